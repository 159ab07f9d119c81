"""Refuse route tables in which one request could match two rules.

Matching has no precedence order on purpose: a request matches at most one rule,
so reading the file tells you where a request goes. Two rules that can match the
same request are refused at load, naming both: as *unreachable* when one covers
every request of the other, as *overlapping* otherwise. Pure; no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from routing_proxy.errors import RouteConflictError

if TYPE_CHECKING:
    from routing_proxy.routes import Capability, RouteRule

_FIX = (
    "remove one of them, or make them disjoint with a different literal path segment, "
    "a different host, or a header condition with a different value"
)


def intersects(a: RouteRule, b: RouteRule) -> bool:
    """True when some request matches both rules."""
    if a.method != b.method or len(a.segments) != len(b.segments):
        return False
    if a.host is not None and b.host is not None and a.host != b.host:
        return False
    if (
        a.header is not None
        and b.header is not None
        and a.header[0] == b.header[0]
        and a.header[1] != b.header[1]
    ):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a.segments, b.segments, strict=True))


def covers(a: RouteRule, b: RouteRule) -> bool:
    """True when every request matching ``b`` also matches ``a`` (given they intersect)."""
    if a.host is not None and a.host != b.host:
        return False
    if a.header is not None and a.header != b.header:
        return False
    return all(x is None or x == y for x, y in zip(a.segments, b.segments, strict=True))


def example_path(a: RouteRule, b: RouteRule) -> str:
    """A concrete path both rules match, to make the error message tangible."""
    pairs = zip(a.segments, b.segments, strict=True)
    parts = [x if x is not None else (y if y is not None else "1") for x, y in pairs]
    return "/".join(parts)


def check_conflicts(capabilities: tuple[Capability, ...]) -> None:
    """Raise RouteConflictError for the first pair of rules that can match one request."""
    buckets: dict[tuple[str, int], list[tuple[str, RouteRule]]] = defaultdict(list)
    for capability in capabilities:
        for rule in capability.rules:
            key = (rule.method, len(rule.segments))
            for other_name, other in buckets[key]:
                if intersects(other, rule):
                    _raise(other_name, other, capability.name, rule)
            buckets[key].append((capability.name, rule))


def _raise(first_cap: str, first: RouteRule, second_cap: str, second: RouteRule) -> None:
    one = f"rule `{first.describe()}` (capability {first_cap}{_at(first)})"
    two = f"rule `{second.describe()}` (capability {second_cap}{_at(second)})"
    if covers(first, second):
        problem = f"{one} makes {two} unreachable: every request the second matches, the first matches"
    elif covers(second, first):
        problem = f"{two} makes {one} unreachable: every request the first matches, the second matches"
    else:
        problem = f"{one} and {two} overlap: both match {first.method} {example_path(first, second)}"
    raise RouteConflictError(problem, _FIX, first.describe(), second.describe())


def _at(rule: RouteRule) -> str:
    return f", line {rule.line}" if rule.line is not None else ""
