"""Pure: the path a request is routed by, exactly as the upstream will understand it.

Routing on the raw path lets a client steer around a capability: Django decodes
``%2F`` to ``/`` in PATH_INFO, so ``/api/v1/wallets%2F7/transactions/`` would miss the
``ledger.history`` rule and still be served by the monolith — after a write cutover,
a write landing on the legacy tables. So we route on the decoded path and refuse, with
a 400, any path whose meaning depends on who normalises it: encoded slashes, back
slashes or dots, dot segments, empty segments, control characters.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from routing_proxy.errors import ClientRequestError

_ENCODED_AMBIGUOUS = re.compile(r"%(?:2f|5c|2e|00)", re.IGNORECASE)
_ABSOLUTE_FORM = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*", re.IGNORECASE)


def _refuse(why: str) -> ClientRequestError:
    return ClientRequestError(400, "bad_request", f"Ambiguous request path: {why}. Send a plain path "
                              "without encoded slashes, dot segments or empty segments.")


def canonical_path(raw: str) -> str:
    """The decoded path to route by; raises ClientRequestError(400) for an ambiguous one."""
    path = _ABSOLUTE_FORM.sub("", raw, count=1) or "/"  # absolute-form targets (RFC 9112 3.2.2)
    if not path.startswith("/"):
        raise _refuse("it does not start with /")
    if _ENCODED_AMBIGUOUS.search(path):
        raise _refuse("it contains an encoded slash, back slash, dot or NUL")
    decoded = unquote(path, errors="strict")
    if any(ord(ch) < 0x20 or ch == "\x7f" or ch == "\\" for ch in decoded):
        raise _refuse("it contains a control character or a back slash")
    segments = decoded.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        raise _refuse("it contains a dot segment")
    if "" in segments[:-1]:
        raise _refuse("it contains an empty segment (//)")
    return decoded
