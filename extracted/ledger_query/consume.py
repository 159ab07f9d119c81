"""Entry point of the ledger projector: ``python -m extracted.ledger_query.consume``.

Wires the ACL consumer library (inbox in the ledger database, exactly-once effects,
dead-letter topic) to the pure domain and the SQL projector. Every event is first
checked against its contract: one that fails it, or whose type/version the ledger
does not know, is dead-lettered with the reason in its ``dlq_error`` header and
nothing is written. Between events the loop records when it found nothing pending,
which is what the sync lag (``extracted.ledger_query.sync``) measures against. Each
batch also records which monolith requests (the events' correlation ids) it applied,
for the read-your-writes fence (``extracted.ledger_query.fence``); the loop prunes
those records after ``FENCE_RETENTION``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from cloudevents.core.base import BaseCloudEvent

from acl.adapters.pg_inbox import PgInboxStore
from acl.consumer import BatchObserver, BatchStats, EventConsumer
from acl.contracts import ContractRegistry, load_contracts
from acl.domain import DomainEvent
from acl.metrics import ConsumerMetrics
from acl.ops import ensure_topics
from extracted.ledger_query import domain, fence, projector

GROUP = "ledger-query"
# topics are named by the event type's first two parts (acl.envelope.topic_for)
TOPICS = ["paystream.wallet", "paystream.kyc", "paystream.merchant"]
DEAD_LETTER_TOPIC = "paystream.dead-letter.ledger-query"
# far longer than any proxy's fence window (seconds); older records only cost space
FENCE_RETENTION = timedelta(minutes=10)
_log = structlog.get_logger("ledger_query.consume")


def contracts() -> ContractRegistry:
    """The ACL's published contracts (merchant and API-key events included)."""
    return ContractRegistry(load_contracts())


class Projector:
    """The consumer's handler: contract check -> domain decision -> SQL effects, in ``tx``.

    A ``BatchHandler``: every event is checked and decided first, then the batch's effects
    are written together (postings set-based, ``projector.apply_all``) and its freshness
    mark is advanced once, to its newest event.
    """

    def __init__(self, registry: ContractRegistry) -> None:
        self.registry = registry

    def apply_batch(self, events: Sequence[BaseCloudEvent], tx: Any) -> None:
        newest: datetime | None = None
        requests: dict[tuple[str, int], bool] = {}  # (correlation id, wallet) -> applied
        batch: list[domain.Effect] = []
        for event in events:
            committed_at, effects = self._decide(event)
            batch += effects
            if committed_at is not None and (newest is None or committed_at > newest):
                newest = committed_at
            correlation_id = event.get_extension("correlationid")
            if isinstance(correlation_id, str) and correlation_id:
                for wallet, applied in fence.touched(effects).items():
                    key = (correlation_id, wallet)
                    requests[key] = requests.get(key, False) or applied
        projector.apply_all(tx, batch)
        fence.record(tx, requests)
        projector.mark_newest(tx, newest)

    def committed(self) -> None:
        return None

    def __call__(self, event: BaseCloudEvent, tx: Any) -> None:
        self.apply_batch([event], tx)

    def _decide(self, event: BaseCloudEvent) -> tuple[datetime | None, list[domain.Effect]]:
        event_type = event.get_type()
        data = event.get_data()
        if not isinstance(data, dict):
            raise domain.UnsupportedEvent(event_type, "data is not a JSON object")
        occurred = event.get_time()
        committed_at = occurred if isinstance(occurred, datetime) else None
        self.registry.validate(DomainEvent(event_type, "", "", committed_at or datetime.now(UTC), data))
        return committed_at, domain.decide(event_type, data)


class StageMetrics:
    """Prometheus histograms of where each batch's time goes (an ``on_batch`` observer).

    ``strangler_consumer_batch_size`` and ``strangler_consumer_stage_seconds{stage=...}``:
    ``waited`` (producer -> broker -> poll, oldest message), ``inbox``, ``handler``, ``commit``.
    Created by the process's wiring, never at import.
    """

    stages = ("waited", "inbox", "handler", "commit")

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Histogram

        registry = REGISTRY if registry is None else registry
        self.size = Histogram(
            "strangler_consumer_batch_size", "Messages per polled batch", ["group"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000), registry=registry)
        self.seconds = Histogram(
            "strangler_consumer_stage_seconds", "Seconds per polled batch, by stage", ["group", "stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry)

    def observer(self, group: str) -> BatchObserver:
        def observe(stats: BatchStats) -> None:
            self.size.labels(group=group).observe(stats.size)
            for stage in self.stages:
                value = getattr(stats, stage)
                if value is not None:
                    self.seconds.labels(group=group, stage=stage).observe(value)

        return observe


class LedgerConsumer:
    """Runs the event consumer and marks the moments it found nothing pending."""

    heartbeat_interval = 0.2  # seconds between caught-up marks while idle
    prune_interval = 60.0  # seconds between prunes of the fence's records

    def __init__(self, database_url: str, consumer: EventConsumer) -> None:
        self.database_url, self.consumer = database_url, consumer
        self._conn: psycopg.Connection[Any] | None = None
        self._last_mark = 0.0
        self._last_prune = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once(0.2)
        finally:
            self.consumer.close()
            if self._conn is not None:
                self._conn.close()

    def poll_once(self, timeout: float) -> bool:
        polled_at = datetime.now(UTC)
        if time.monotonic() - self._last_prune >= self.prune_interval:
            self._prune()
        if self.consumer.poll_once(timeout):
            return True
        # Only an assigned consumer that found nothing is caught up; one still joining is not.
        if self.consumer._client().assignment():
            self._mark_caught_up(polled_at)
        return False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        return self._conn

    def _prune(self) -> None:
        self._last_prune = time.monotonic()
        try:
            fence.prune(self._connection(), FENCE_RETENTION)
        except psycopg.Error as exc:  # a missed prune costs space, never correctness
            _log.warning("ledger_query.fence_prune_failed", error=str(exc))

    def _mark_caught_up(self, at: datetime) -> None:
        if time.monotonic() - self._last_mark < self.heartbeat_interval:
            return
        self._connection().execute(
            "UPDATE ledger_sync_state SET caught_up_at = greatest(caught_up_at, %s) WHERE id = 1", (at,)
        )
        self._last_mark = time.monotonic()


def build(database_url: str, bootstrap_servers: str, *, group: str = GROUP, max_attempts: int = 3,
          metrics: ConsumerMetrics | None = None, on_batch: BatchObserver | None = None) -> LedgerConsumer:
    """The one wiring point of the consumer process (tests call it too)."""
    ensure_topics(bootstrap_servers, [*TOPICS, DEAD_LETTER_TOPIC])
    consumer = EventConsumer(
        bootstrap_servers, group, TOPICS, Projector(contracts()), PgInboxStore(database_url),
        DEAD_LETTER_TOPIC, max_attempts, metrics,
        # a fresh event should become visible within milliseconds, not a fetch-wait later
        overrides={"fetch.wait.max.ms": 10},
        on_batch=on_batch,
    )
    return LedgerConsumer(database_url, consumer)


def main(argv: Sequence[str] | None = None) -> None:
    from extracted.ledger_query.config import ledger_database_url
    from extracted.worker import start_worker, stop_on_signals, worker_parser

    parser = worker_parser("python -m extracted.ledger_query.consume",
                           "Apply domain events to the ledger read model.", GROUP)
    parser.add_argument("--database-url", help="ledger database (default STRANGLER_LEDGER_DATABASE_URL)")
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args(argv)
    bootstrap = start_worker(args)
    database_url = args.database_url or ledger_database_url()
    ledger = build(database_url, bootstrap, group=args.group, max_attempts=args.max_attempts,
                   metrics=ConsumerMetrics.create(), on_batch=StageMetrics().observer(args.group))
    stop = stop_on_signals()
    _log.info("ledger_query.consumer_started", group=args.group, topics=TOPICS)
    ledger.run(stop)


if __name__ == "__main__":
    main()
