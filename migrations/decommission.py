"""Decommissioning: which legacy routes had no traffic over a window, and what that allows. Pure.

A route in mode ``monolith`` with no traffic is dead code in the monolith. A route
whose capability is ``extracted`` is a compatibility shim: the proxy keeps sending
the legacy path to its new home, and it may be retired only after a whole window
without a request. Neither can be judged before the traffic record covers the
window: a young record answers "wait", never "unused".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RouteUse:
    capability: str
    mode: str
    method: str
    path: str
    hits: int  # inside the window
    last_hit: datetime | None  # ever recorded
    upstream_path: str | None = None  # a shim's path on its extracted upstream (routing_proxy.rewrite)


@dataclass(frozen=True)
class RouteVerdict:
    use: RouteUse
    unused: bool
    advice: str


def classify(uses: list[RouteUse], window_start: datetime,
             record_since: datetime | None) -> list[RouteVerdict]:
    """One verdict per route, unused ones first, then by capability and path."""
    covered = record_since is not None and record_since <= window_start
    verdicts = [_verdict(use, covered, record_since) for use in uses]
    return sorted(verdicts, key=lambda v: (not v.unused, v.use.capability, v.use.path, v.use.method))


def _verdict(use: RouteUse, covered: bool, record_since: datetime | None) -> RouteVerdict:
    if use.hits:
        if use.mode == "extracted":
            return RouteVerdict(use, False, "shim in use: keep proxying the legacy path to its new home")
        return RouteVerdict(use, False, "in use")
    if not covered:
        since = f"since {record_since:%Y-%m-%d %H:%M} UTC" if record_since else "at all"
        return RouteVerdict(use, False, f"no traffic recorded {since}; the record does not cover the "
                                        "window yet: wait")
    if use.mode == "extracted":
        return RouteVerdict(use, True, "shim unused: retire the legacy path; the monolith's code "
                                       "for it can go")
    if use.mode == "monolith":
        return RouteVerdict(use, True, "unused: the monolith's code for it can be removed")
    return RouteVerdict(use, True, f"unused while in {use.mode}: finish the cutover first")
