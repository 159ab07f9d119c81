"""The route table: capabilities, their rules and modes, and the declarative TOML file.

A capability is a named set of routes (method + path pattern, optionally a host or
a header condition) that is cut over as one unit. The table is immutable and
versioned; the data plane swaps a whole table atomically on reload, and the
control plane builds tables either from this TOML format or directly from these
classes. Building a table validates it (conflicts, modes); invalid tables never
exist. Pure apart from ``parse_route_file`` reading its one file.

File format::

    version = 3                # increases on every publish
    kill_switch = false        # true sends every capability to the monolith

    [capabilities."ledger.history"]
    mode = "canary"            # monolith | shadow | canary | extracted
    percent = "5.25"           # canary exposure, 0.01 % steps
    sticky_key = { kind = "merchant_id", header = "X-Merchant-ID" }  # or path_param / query_param
    upstream = "extracted"     # which extracted upstream serves it
    fallback = true            # idempotent requests fall back to the monolith on failure
    killed = false             # per-capability kill switch
    routes = [
        "GET /api/v1/wallets/{id}/transactions/",
        { route = "GET /api/v1/ledger/", host = "api.paystream.in", header = "X-Api-Version: 2" },
        # a compatibility shim: the extracted upstream serves the legacy path under its own
        { route = "GET /api/v1/wallets/{id}/balance/", upstream_path = "/v2/accounts/{id}/balance" },
    ]
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from routing_proxy.conflicts import check_conflicts
from routing_proxy.errors import RouteConflictError, RouteFileError, RouteTableError, UpstreamPathError
from routing_proxy.rewrite import UpstreamPath, parse_upstream_path

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_METHOD = re.compile(r"^[A-Z]+$")
BASIS_POINTS = 10_000  # 100 % in 0.01 % steps


class Mode(StrEnum):
    MONOLITH = "monolith"
    SHADOW = "shadow"
    CANARY = "canary"
    EXTRACTED = "extracted"


class KeyKind(StrEnum):
    """What the sticky canary key identifies; named for audit and logs."""

    MERCHANT_ID = "merchant_id"
    USER_ID = "user_id"
    API_KEY = "api_key"


class KeySource(StrEnum):
    HEADER = "header"
    PATH_PARAM = "path_param"
    QUERY_PARAM = "query_param"


@dataclass(frozen=True, slots=True)
class StickyKey:
    """Where a canary reads the key that keeps a client on one side."""

    kind: KeyKind
    source: KeySource
    name: str  # header name (any case), path parameter or query parameter


@dataclass(frozen=True)
class RouteRule:
    """One route: ``GET /api/v1/wallets/{id}/transactions/``, optionally narrowed by host/header."""

    method: str
    path: str
    host: str | None = None
    header: tuple[str, str] | None = None  # (lower-case name, exact value)
    line: int | None = None  # where it was declared, for error messages
    # the path the extracted upstream serves it under (a compatibility shim), or None: the same
    upstream_path: str | None = None
    # literal segment, or None for a {param}; the leading "" of "/..." included
    segments: tuple[str | None, ...] = field(init=False, repr=False, compare=False)
    params: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    rewrite: UpstreamPath | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _METHOD.match(self.method):
            raise RouteTableError(f"route method {self.method!r} is not an upper-case HTTP method")
        if not self.path.startswith("/"):
            raise RouteTableError(f"route path {self.path!r} must start with '/'")
        segments: list[str | None] = []
        params: list[tuple[int, str]] = []
        for index, part in enumerate(self.path.split("?", 1)[0].split("/")):
            found = _PARAM.match(part)
            if found:
                if any(name == found.group(1) for _, name in params):
                    raise RouteTableError(f"route {self.path!r} names parameter {part} twice")
                params.append((index, found.group(1)))
                segments.append(None)
            elif "{" in part or "}" in part:
                raise RouteTableError(
                    f"route {self.path!r}: segment {part!r} must be a literal or a whole {{name}}"
                )
            else:
                segments.append(part)
        object.__setattr__(self, "segments", tuple(segments))
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "rewrite", None if self.upstream_path is None else parse_upstream_path(
            self.upstream_path, [name for _, name in params], f"{self.method} {self.path}"))
        if self.host is not None:
            object.__setattr__(self, "host", self.host.lower())
        if self.header is not None:
            object.__setattr__(self, "header", (self.header[0].lower(), self.header[1]))

    def describe(self) -> str:
        text = f"{self.method} {self.path}"
        if self.host is not None:
            text += f" host={self.host}"
        if self.header is not None:
            text += f" header={self.header[0]}: {self.header[1]}"
        if self.upstream_path is not None:
            text += f" -> {self.upstream_path}"
        return text


@dataclass(frozen=True)
class Capability:
    name: str
    rules: tuple[RouteRule, ...]
    mode: Mode = Mode.MONOLITH
    canary_basis_points: int = 0  # 0..10000, i.e. percent * 100
    sticky_key: StickyKey | None = None
    upstream: str = "extracted"
    fallback: bool = True
    killed: bool = False

    def __post_init__(self) -> None:
        if not self.rules:
            raise RouteTableError(f"capability {self.name!r} has no routes")
        if not 0 <= self.canary_basis_points <= BASIS_POINTS:
            raise RouteTableError(
                f"capability {self.name!r}: canary share {self.canary_basis_points} basis points "
                "is outside 0..10000"
            )
        if self.mode is Mode.CANARY and self.sticky_key is None:
            raise RouteTableError(f"capability {self.name!r} is a canary without a sticky_key")
        key = self.sticky_key
        if key is not None and key.source is KeySource.PATH_PARAM:
            for rule in self.rules:
                if all(name != key.name for _, name in rule.params):
                    raise RouteTableError(
                        f"capability {self.name!r}: sticky_key path_param {key.name!r} is not a "
                        f"parameter of route `{rule.describe()}`"
                    )


@dataclass(frozen=True)
class RouteTable:
    """An immutable, validated, versioned set of capabilities."""

    version: int
    capabilities: tuple[Capability, ...] = ()
    kill_switch: bool = False
    # (method, number of path segments) -> candidate rules; the matcher's index
    by_shape: dict[tuple[str, int], tuple[tuple[RouteRule, Capability], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        names = [c.name for c in self.capabilities]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RouteTableError(f"capability names must be unique; repeated: {duplicates}")
        check_conflicts(self.capabilities)
        index: dict[tuple[str, int], list[tuple[RouteRule, Capability]]] = {}
        for capability in self.capabilities:
            for rule in capability.rules:
                index.setdefault((rule.method, len(rule.segments)), []).append((rule, capability))
        object.__setattr__(self, "by_shape", {k: tuple(v) for k, v in index.items()})

    def capability(self, name: str) -> Capability:
        for capability in self.capabilities:
            if capability.name == name:
                return capability
        raise KeyError(name)


def parse_route_file(path: str | Path) -> RouteTable:
    """Read a declarative TOML route file into a validated RouteTable."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise RouteFileError(source, f"cannot read the file ({exc.strerror})", "check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RouteFileError(source, f"not valid TOML ({exc})", "fix the TOML syntax") from exc
    return _RouteFileReader(source, text).table(data)


class _RouteFileReader:
    """Turns the parsed TOML into typed objects, naming file and line on every error."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, needle: str, after: int = 0) -> int | None:
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if needle in line:
                return number
        return None

    def fail(self, problem: str, fix: str, line: int | None = None) -> RouteFileError:
        return RouteFileError(self.source, problem, fix, line)

    def table(self, data: dict[str, Any]) -> RouteTable:
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise self.fail("`version` is missing or not a non-negative integer",
                            "add `version = 1` at the top and increase it on every change",
                            self.line_of("version"))
        unknown = set(data) - {"version", "kill_switch", "capabilities"}
        if unknown:
            raise self.fail(f"unknown top-level keys {sorted(unknown)}",
                            "use only version, kill_switch and [capabilities.<name>]")
        raw = data.get("capabilities", {})
        capabilities = tuple(self.capability(name, body) for name, body in raw.items())
        try:
            return RouteTable(version, capabilities, bool(data.get("kill_switch", False)))
        except RouteConflictError as exc:
            raise self.fail(exc.problem, exc.fix) from exc
        except RouteTableError as exc:
            raise self.fail(str(exc), "correct the capabilities named above") from exc

    def capability(self, name: str, body: dict[str, Any]) -> Capability:
        at = self.line_of(f'"{name}"') or self.line_of(name)
        allowed = {"mode", "percent", "sticky_key", "upstream", "fallback", "killed", "routes"}
        if set(body) - allowed:
            raise self.fail(f"capability {name!r} has unknown keys {sorted(set(body) - allowed)}",
                            f"use only {sorted(allowed)}", at)
        try:
            mode = Mode(body.get("mode", "monolith"))
        except ValueError:
            raise self.fail(f"capability {name!r} has mode {body.get('mode')!r}",
                            "use one of monolith, shadow, canary, extracted", at) from None
        rules = tuple(self.rule(name, entry, at or 0) for entry in body.get("routes", []))
        try:
            return Capability(
                name=name, rules=rules, mode=mode,
                canary_basis_points=self.basis_points(name, body.get("percent", 0), at),
                sticky_key=self.sticky_key(name, body.get("sticky_key"), at),
                upstream=str(body.get("upstream", "extracted")),
                fallback=bool(body.get("fallback", True)), killed=bool(body.get("killed", False)),
            )
        except RouteFileError:
            raise
        except RouteTableError as exc:
            raise self.fail(str(exc), "add the missing setting or route", at) from exc

    def rule(self, capability: str, entry: Any, after: int) -> RouteRule:
        if isinstance(entry, str):
            entry = {"route": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("route"), str):
            raise self.fail(f"capability {capability!r} has a route that is not a string or "
                            "a table with `route`", 'write "GET /path/{id}/"', after or None)
        line = self.line_of(entry["route"], after) or after or None
        method, _, path = entry["route"].strip().partition(" ")
        header = None
        if "header" in entry:
            name, sep, value = str(entry["header"]).partition(":")
            if not sep:
                raise self.fail(f"route {entry['route']!r} has header {entry['header']!r}",
                                'write it as "Name: value"', line)
            header = (name.strip(), value.strip())
        unknown = set(entry) - {"route", "host", "header", "upstream_path"}
        if unknown:
            raise self.fail(f"route {entry['route']!r} has unknown keys {sorted(unknown)}",
                            "use only route, host, header and upstream_path", line)
        upstream_path = entry.get("upstream_path")
        if upstream_path is not None and not isinstance(upstream_path, str):
            raise self.fail(f"route {entry['route']!r} has upstream_path {upstream_path!r}",
                            'write it as a string, e.g. "/v2/accounts/{id}/balance"', line)
        try:
            return RouteRule(method, path.strip(), entry.get("host"), header, line, upstream_path)
        except UpstreamPathError as exc:
            raise self.fail(exc.problem, exc.fix, line) from exc
        except RouteTableError as exc:
            raise self.fail(str(exc), 'write the route as "METHOD /literal/{param}/"', line) from exc

    def basis_points(self, capability: str, percent: Any, at: int | None) -> int:
        try:
            value = Decimal(str(percent)) * 100
        except InvalidOperation:
            value = Decimal("NaN")
        if value.is_nan() or value != value.to_integral_value() or not 0 <= value <= BASIS_POINTS:
            raise self.fail(f"capability {capability!r} has percent {percent!r}",
                            "give a number from 0 to 100 in steps of 0.01, e.g. \"5.25\"", at)
        return int(value)

    def sticky_key(self, capability: str, raw: Any, at: int | None) -> StickyKey | None:
        if raw is None:
            return None
        fix = ('write sticky_key = { kind = "merchant_id" | "user_id" | "api_key", '
               'header | path_param | query_param = "<name>" }')
        if not isinstance(raw, dict):
            raise self.fail(f"capability {capability!r} has an invalid sticky_key", fix, at)
        sources = [s for s in KeySource if s.value in raw]
        try:
            kind = KeyKind(str(raw.get("kind")))
        except ValueError:
            raise self.fail(f"capability {capability!r}: sticky_key kind {raw.get('kind')!r}",
                            fix, at) from None
        if len(sources) != 1 or set(raw) - {"kind", sources[0].value}:
            raise self.fail(f"capability {capability!r}: sticky_key needs exactly one source",
                            fix, at)
        return StickyKey(kind, sources[0], str(raw[sources[0].value]))
