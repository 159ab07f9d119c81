"""Pure: a compatibility shim's path template, checked once and filled in per request.

A route may name the path its extracted upstream serves it under, e.g. the legacy
``GET /api/v1/wallets/{wallet_id}/balance/`` as ``/v2/accounts/{wallet_id}/balance``.
``parse_upstream_path`` checks the template against the route when a table is built
(and when an operator sets it): a plain path, no scheme or host, no dot segments, no
query, exactly the route's parameters. ``UpstreamPath.target`` fills it in for one
request without a regex: the literals are split once, each parameter's value is
percent-encoded whole (``quote(value, safe="")``), so a value holding ``/``, ``%2F``,
``?``, ``#``, ``;`` or CR/LF stays inside its segment, and a value that is empty, ``.``
or ``..`` is refused (``routing_proxy.paths`` keeps those out of routing; this does not
rely on it). The query string is kept byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from routing_proxy.errors import ClientRequestError, UpstreamPathError

# fullmatch, never ``$``: it would let a trailing newline into the request line
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 3986 pchar without pct-encoded: what a literal segment may hold as typed
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]*")
MAX_LENGTH = 500  # the control plane's column
_UNSAFE_VALUES = frozenset({"", ".", ".."})


@dataclass(frozen=True, slots=True)
class UpstreamPath:
    """A checked template: ``literals[0] {names[0]} literals[1] ... literals[-1]``."""

    text: str
    literals: tuple[str, ...]
    names: tuple[str, ...]

    def render(self, params: Mapping[str, str]) -> str:
        """The path with each parameter's value percent-encoded; ClientRequestError(400) for a
        value that would be a dot segment or an empty one."""
        literals = self.literals
        parts = [literals[0]]
        for index, name in enumerate(self.names, start=1):
            value = params[name]
            if not (value.isascii() and value.isalnum()):  # ids usually are: nothing to encode
                if value in _UNSAFE_VALUES:
                    raise ClientRequestError(
                        400, "bad_request", f"Path parameter {name} may not be empty, '.' or '..'.")
                value = quote(value, safe="")
            parts.append(value)
            parts.append(literals[index])
        return "".join(parts)

    def target(self, params: Mapping[str, str], original: bytes) -> bytes:
        """The request target for the extracted upstream: the rendered path and ``original``'s
        query string, unchanged."""
        _, mark, query = original.partition(b"?")
        return self.render(params).encode("ascii") + mark + query


def _refuse(text: str, route: str, problem: str, fix: str) -> UpstreamPathError:
    return UpstreamPathError(f"upstream path {text!r} of route `{route}` {problem}", fix)


def parse_upstream_path(text: str, params: Sequence[str], route: str) -> UpstreamPath:
    """Check ``text`` against the route's parameter names; UpstreamPathError says what is wrong."""
    if not isinstance(text, str) or not text:
        raise _refuse(str(text), route, "is empty", "give a path such as /v2/accounts/{id}/balance")
    if len(text) > MAX_LENGTH:
        raise _refuse(text[:40] + "…", route, f"is longer than {MAX_LENGTH} characters",
                      "shorten it")
    if not text.startswith("/"):
        raise _refuse(text, route, "does not start with '/'",
                      "give only the path: no scheme or host (the capability's upstream says where)")
    if "?" in text or "#" in text:
        raise _refuse(text, route, "has a query or fragment",
                      "give only the path: the request's query string is kept as it is")
    segments = text.split("/")[1:]
    if "" in segments[:-1]:
        raise _refuse(text, route, "has an empty segment (//)",
                      "remove it: '//' at the start would name a host")
    literals: list[str] = []
    names: list[str] = []
    pending = ""
    for segment in segments:
        pending += "/"
        found = _PARAM.fullmatch(segment)
        if found:
            name = found.group(1)
            if name not in params:
                known = ", ".join("{" + p + "}" for p in params) or "none"
                raise _refuse(text, route, f"uses {segment}, which the route does not capture",
                              f"use the route's own parameters ({known})")
            if name in names:
                raise _refuse(text, route, f"uses {segment} twice", "use each parameter once")
            literals.append(pending)
            names.append(name)
            pending = ""
        elif segment in (".", ".."):
            raise _refuse(text, route, "has a dot segment", "write the path without '.' or '..'")
        elif "{" in segment or "}" in segment:
            raise _refuse(text, route, f"has segment {segment!r}",
                          "write each parameter as a whole segment, e.g. /v2/accounts/{id}/balance")
        elif not _LITERAL.fullmatch(segment):
            raise _refuse(text, route, f"has segment {segment!r} with a character a path may not "
                          "hold as typed (e.g. a space, '%', '\\', a quote, a control or non-ASCII one)",
                          "write it with letters, digits and - . _ ~")
        else:
            pending += segment
    literals.append(pending)
    missing = [p for p in params if p not in names]
    if missing:
        raise _refuse(text, route, f"drops {', '.join('{' + p + '}' for p in missing)}",
                      "carry every path parameter of the route by name")
    return UpstreamPath(text, tuple(literals), tuple(names))
