"""Prometheus metrics per capability, mode and upstream, in a registry of their own.

Each ProxyServer gets its own CollectorRegistry so several instances (and tests)
live in one process without clashing. The per-request pair (requests counter, latency
histogram) is kept in plain lists by ``RequestStats`` and turned into Prometheus families
only when scraped: a prometheus_client Counter plus Histogram child costs a lock per
increment and a Python loop over the buckets, more than the rest of the metrics work.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from routing_proxy.decision import Decision
from routing_proxy.routes import Mode

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _mode(decision: Decision) -> str:
    return "unmatched" if decision.mode is None else str(decision.mode)


StatsKey = tuple[str, "Mode | None", str, int]  # capability, mode, upstream, status


class RequestStats(Collector):
    """``strangler_proxy_requests_total`` and ``strangler_proxy_request_seconds``, collected.

    The event loop only adds to lists; a scrape (another thread) reads a snapshot of them.
    The histogram's count is derived from its buckets, so it always matches the +Inf bucket.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.bounds = list(buckets)
        self.entries: dict[StatsKey, list[float]] = {}  # per key: bucket counts..., sum

    def observe(self, key: StatsKey, seconds: float) -> None:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = [0.0] * (len(self.bounds) + 2)
        entry[bisect_left(self.bounds, seconds)] += 1  # the first bucket with le >= seconds
        entry[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        labels = ["capability", "mode", "upstream"]
        requests = CounterMetricFamily("strangler_proxy_requests_total", "Requests answered",
                                       labels=[*labels, "status"])
        latency = HistogramMetricFamily("strangler_proxy_request_seconds", "Time to answer",
                                        labels=labels)
        merged: dict[tuple[str, str, str], list[float]] = {}
        for (capability, mode, upstream, status), entry in list(self.entries.items()):
            entry = list(entry)
            names = (capability or "-", "unmatched" if mode is None else str(mode), upstream)
            requests.add_metric([*names, str(status)], sum(entry[:-1]))
            total = merged.setdefault(names, [0.0] * len(entry))
            for i, value in enumerate(entry):
                total[i] += value
        for names, total in merged.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip([*self.bounds, float("inf")], total[:-1], strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            latency.add_metric(list(names), buckets, sum_value=total[-1])
        yield requests
        yield latency


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["capability", "mode", "upstream"]
        self.stats = RequestStats(_LATENCY_BUCKETS)
        self.registry.register(self.stats)
        self.errors = Counter("strangler_proxy_errors_total", "Upstream failures and rejects",
                              [*labels, "kind"], registry=self.registry)
        self.fallbacks = Counter("strangler_proxy_fallbacks_total",
                                 "Idempotent requests replayed on the monolith",
                                 ["capability", "upstream", "kind"], registry=self.registry)
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
            "there directly (bypass), answers without a fence result (unsupported); the same "
            "prefixed write_ for writes to an extracted service (write_fenced, write_hit, ...), "
            "which are never replayed (write_bypass: sent without a fence)",
            ["capability", "outcome"], registry=self.registry)

    def observe(self, decision: Decision, upstream: str, status: int, seconds: float) -> None:
        self.stats.observe((decision.capability, decision.mode, upstream, status), seconds)
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
