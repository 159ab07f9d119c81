"""Prometheus metrics per capability, mode and upstream, in a registry of their own.

Each ProxyServer gets its own CollectorRegistry so several instances (and tests)
live in one process without clashing. Labelled children are cached because
``labels()`` on the hot path costs more than the increment itself.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from routing_proxy.decision import Decision

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _mode(decision: Decision) -> str:
    return "unmatched" if decision.mode is None else str(decision.mode)


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["capability", "mode", "upstream"]
        self.requests = Counter("strangler_proxy_requests_total", "Requests answered",
                                [*labels, "status"], registry=self.registry)
        self.errors = Counter("strangler_proxy_errors_total", "Upstream failures and rejects",
                              [*labels, "kind"], registry=self.registry)
        self.fallbacks = Counter("strangler_proxy_fallbacks_total",
                                 "Idempotent requests replayed on the monolith",
                                 ["capability", "upstream", "kind"], registry=self.registry)
        self.latency = Histogram("strangler_proxy_request_seconds", "Time to answer", labels,
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.unmatched = Counter("strangler_proxy_unmatched_total",
                                 "Requests no capability matched (sent to the monolith)",
                                 registry=self.registry)
        self.rejected = Counter("strangler_proxy_rejected_total",
                                "Client requests refused by the proxy", ["status"],
                                registry=self.registry)
        self.shadow_enqueued = Counter("strangler_proxy_shadow_enqueued_total",
                                       "Exchanges copied to the shadow queue",
                                       registry=self.registry)
        self.shadow_dropped = Counter("strangler_proxy_shadow_dropped_total",
                                      "Shadow copies dropped because the queue was full",
                                      registry=self.registry)
        self.fence = Counter(
            "strangler_proxy_fence_total",
            "Read-your-writes fence: writes tracked, reads fenced, and how the service answered "
            "(hit, waited, miss), reads replayed on the monolith after a miss (fallback) or sent "
            "there directly (bypass), answers without a fence result (unsupported)",
            ["capability", "outcome"], registry=self.registry)
        self._children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, decision: Decision, upstream: str, status: int, seconds: float) -> None:
        key = (decision.capability, _mode(decision), upstream, status)
        children = self._children.get(key)
        if children is None:
            cap, mode = key[0] or "-", key[1]
            children = (self.requests.labels(cap, mode, upstream, str(status)),
                        self.latency.labels(cap, mode, upstream))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if not decision.capability:
            self.unmatched.inc()

    def error(self, decision: Decision, upstream: str, kind: str) -> None:
        self.errors.labels(decision.capability or "-", _mode(decision), upstream, kind).inc()

    def fallback(self, decision: Decision, upstream: str, kind: str) -> None:
        self.fallbacks.labels(decision.capability, upstream, kind).inc()

    def fenced(self, capability: str, outcome: str) -> None:
        self.fence.labels(capability or "-", outcome).inc()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 if never set); for tests and the control plane."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0
