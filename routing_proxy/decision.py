"""Where a request goes: route matching, canary bucketing and the routing decision.

Pure functions of the route table and a few request facts; no I/O, no clock, no
randomness. ``bucket`` uses SHA-256 (never ``hash()``, which is salted per
process) so a key lands in the same bucket on every instance and after every
restart. A key is in a canary when its bucket is below the canary's share in
basis points, so raising the share only ever adds keys: exposure is monotonic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from routing_proxy.routes import BASIS_POINTS, Capability, Mode, RouteRule, RouteTable

MONOLITH = "monolith"
# Only safe methods are replayed on the monolith; a write may have had an effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RouteMatch:
    capability: Capability
    rule: RouteRule
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class Decision:
    upstream: str  # "monolith" or the capability's extracted upstream name
    mode: Mode | None  # None when no capability matched
    capability: str  # "" when no capability matched
    shadow: bool  # tee a copy of the exchange to the shadow sink
    fallback_allowed: bool  # on extracted failure, replay this request on the monolith
    reason: str  # why, for access logs: unmatched, kill_switch, killed, mode, canary_in, ...


UNMATCHED = Decision(MONOLITH, None, "", False, False, "unmatched")


def match(
    table: RouteTable, method: str, path: str, host: str | None, headers: Mapping[str, str]
) -> RouteMatch | None:
    """The one rule (and its capability) matching the request, or None.

    ``path`` excludes the query string; ``headers`` has lower-case names.
    """
    parts = path.split("/")
    candidates = table.by_shape.get((method, len(parts)))
    if not candidates:
        return None
    bare_host = host.rsplit(":", 1)[0].lower() if host and not host.endswith("]") else host
    for rule, capability in candidates:
        if rule.host is not None and rule.host != bare_host:
            continue
        if rule.header is not None and headers.get(rule.header[0]) != rule.header[1]:
            continue
        for literal, part in zip(rule.segments, parts, strict=True):
            if (literal is None and not part) or (literal is not None and literal != part):
                break
        else:
            return RouteMatch(capability, rule, {name: parts[i] for i, name in rule.params})
    return None


def bucket(capability: str, key: str) -> int:
    """The key's bucket 0..9999 for this capability: stable across processes and hosts."""
    digest = hashlib.sha256(f"{capability}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def in_canary(capability: str, basis_points: int, key: str) -> bool:
    return bucket(capability, key) < basis_points


def decide(
    table: RouteTable, found: RouteMatch | None, method: str, sticky_key: str | None
) -> Decision:
    """Route a matched (or unmatched) request; ``sticky_key`` matters only for canaries."""
    if found is None:
        return UNMATCHED
    cap = found.capability
    if table.kill_switch or cap.killed:
        reason = "kill_switch" if table.kill_switch else "killed"
        return Decision(MONOLITH, cap.mode, cap.name, False, False, reason)
    fallback = cap.fallback and method in IDEMPOTENT_METHODS
    if cap.mode is Mode.EXTRACTED:
        return Decision(cap.upstream, cap.mode, cap.name, False, fallback, "mode")
    if cap.mode is Mode.SHADOW:
        return Decision(MONOLITH, cap.mode, cap.name, True, False, "mode")
    if cap.mode is Mode.CANARY:
        if sticky_key is None:
            return Decision(MONOLITH, cap.mode, cap.name, False, False, "canary_no_key")
        if in_canary(cap.name, cap.canary_basis_points, sticky_key):
            return Decision(cap.upstream, cap.mode, cap.name, False, fallback, "canary_in")
        return Decision(MONOLITH, cap.mode, cap.name, False, False, "canary_out")
    return Decision(MONOLITH, cap.mode, cap.name, False, False, "mode")
