"""Fallback behaviour: when an extracted upstream fails, may this request go to the monolith?

Only idempotent requests whose capability allows it (decided in ``decision``),
and only while fallback is enabled for this instance. A write on an extracted
capability never falls back: it gets a 503 with its request id.
"""

from __future__ import annotations

from routing_proxy.dataplane.metrics import ProxyMetrics
from routing_proxy.decision import MONOLITH, Decision
from routing_proxy.errors import (
    CircuitOpenError,
    FenceMissError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)


def failure_kind(error: UpstreamError) -> str:
    if isinstance(error, FenceMissError):
        return "fence_miss"
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    if isinstance(error, UpstreamConnectError):
        return "connect"
    if isinstance(error, UpstreamStatusError):
        return f"status_{error.status}"
    return "protocol"


class FallbackPolicy:
    def __init__(self, enabled: bool, failure_statuses: frozenset[int],
                 metrics: ProxyMetrics) -> None:
        self.enabled = enabled
        self.failure_statuses = failure_statuses
        self.metrics = metrics

    def refused_statuses(self, decision: Decision) -> frozenset[int]:
        """Statuses that trigger a fallback instead of reaching the client."""
        return self.failure_statuses if self.applies(decision) else frozenset()

    def applies(self, decision: Decision) -> bool:
        return self.enabled and decision.fallback_allowed and decision.upstream != MONOLITH

    def take(self, decision: Decision, error: UpstreamError) -> bool:
        """Count and approve a fallback for this failure, or refuse it."""
        if not self.applies(decision):
            return False
        self.metrics.fallback(decision, decision.upstream, failure_kind(error))
        return True
