"""Prometheus metrics of the ACL, on a registry the caller may pass (tests use their own)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class RelayMetrics:
    published: Counter
    quarantined: Counter  # the alert: any increase pages someone
    commit_to_ack: Histogram
    outbox_pending: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> RelayMetrics:
        return cls(
            Counter(
                "strangler_acl_events_published_total",
                "Events acknowledged by Kafka",
                ["topic"],
                registry=registry,
            ),
            Counter(
                "strangler_acl_quarantined_total",
                "Changes or events sent to quarantine (alert on rate > 0)",
                ["table", "reason_kind"],
                registry=registry,
            ),
            Histogram(
                "strangler_acl_commit_to_ack_seconds",
                "Monolith commit to Kafka acknowledgement",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                registry=registry,
            ),
            Gauge("strangler_acl_outbox_pending", "Captured changes not yet handled", registry=registry),
        )


@dataclass(frozen=True)
class ConsumerMetrics:
    lag: Gauge
    applied: Counter
    duplicates: Counter
    dead_lettered: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> ConsumerMetrics:
        return cls(
            Gauge(
                "strangler_consumer_lag",
                "High watermark minus position",
                ["group", "topic", "partition"],
                registry=registry,
            ),
            Counter("strangler_consumer_applied_total", "Events applied", ["group"], registry=registry),
            Counter(
                "strangler_consumer_duplicates_total",
                "Redeliveries absorbed by the inbox",
                ["group"],
                registry=registry,
            ),
            Counter(
                "strangler_consumer_dead_lettered_total",
                "Events sent to the dead-letter topic",
                ["group"],
                registry=registry,
            ),
        )
