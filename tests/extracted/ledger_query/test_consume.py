"""The ledger consumer's per-batch stage metrics (what the lag bench reads from the consumer)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from acl.consumer import BatchStats
from extracted.ledger_query.consume import StageMetrics


def test_stage_metrics_count_each_batch_and_skip_a_stage_with_no_value() -> None:
    registry = CollectorRegistry()
    observe = StageMetrics(registry).observer("ledger-query")
    observe(BatchStats(size=120, waited=0.25, inbox=0.01, handler=0.04, commit=0.002, transactions=1))
    observe(BatchStats(size=3, waited=None, inbox=0.001, handler=0.002, commit=0.001, transactions=1))

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"group": "ledger-query", **labels})

    assert sample("strangler_consumer_batch_size_count") == 2
    assert sample("strangler_consumer_batch_size_sum") == 123
    assert sample("strangler_consumer_stage_seconds_count", stage="waited") == 1, "no timestamp, no sample"
    assert sample("strangler_consumer_stage_seconds_count", stage="handler") == 2
    assert sample("strangler_consumer_stage_seconds_sum", stage="handler") == 0.042
