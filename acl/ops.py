"""Operator tools behind ``strangler events tail|replay`` and relay wiring for ``strangler acl relay``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore, _pending, origin_of
from acl.contracts import ContractRegistry, load_contracts
from acl.envelope import parse_message, topic_for
from acl.install import SCHEMA
from acl.metrics import RelayMetrics
from acl.ports import Publisher
from acl.relay import PythonRelay, render


def event_topics(contracts: ContractRegistry | None = None) -> list[str]:
    return sorted({topic_for(t) for t in (contracts or ContractRegistry(load_contracts())).types()})


def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int = 6) -> None:
    """Create missing topics (explicitly: auto-creation would pick the broker's defaults)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
    for future in admin.create_topics(wanted).values() if wanted else []:
        try:
            future.result(15)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def build_relay(
    database_url: str,
    bootstrap_servers: str,
    batch_size: int = 2000,
    lanes_per_claim: int = 64,
    metrics: RelayMetrics | None = None,
    chunk_size: int | None = None,
) -> PythonRelay:
    contracts = ContractRegistry(load_contracts())
    relay = PythonRelay(
        PgOutboxStore(database_url, lanes_per_claim),
        KafkaPublisher(bootstrap_servers),
        contracts,
        metrics,
        batch_size,
    )
    if chunk_size is not None:
        relay.chunk_size = chunk_size
    return relay


def run_relay(
    database_url: str,
    bootstrap_servers: str,
    batch_size: int = 2000,
    lanes_per_claim: int = 64,
    chunk_size: int | None = None,
) -> None:
    """Blocking; SIGTERM/SIGINT finish the current batch and stop."""
    ensure_topics(bootstrap_servers, event_topics())
    relay = build_relay(
        database_url, bootstrap_servers, batch_size, lanes_per_claim, RelayMetrics.create(), chunk_size
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        relay.run(stop)
    finally:
        relay.close()
        relay.store.close()
        relay.publisher.close()


def tail(
    bootstrap_servers: str,
    topics: list[str],
    on_event: Callable[[dict[str, Any]], None],
    from_beginning: bool = False,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Print-friendly stream of events (no consumer group: tailing never moves anyone's offsets)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "strangler-tail",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    seen = 0
    try:
        assignment = []
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                assignment.append(TopicPartition(topic, p, low if from_beginning else high))
        consumer.assign(assignment)
        while (limit is None or seen < limit) and not (stop and stop.is_set()):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                continue
            event = parse_message(msg.key(), msg.value(), msg.headers())
            on_event(
                {
                    "topic": msg.topic(),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "key": (msg.key() or b"").decode(),
                    **event.get_attributes(),
                    "data": event.get_data(),
                }
            )
            seen += 1
    finally:
        consumer.close()
    return seen


def replay(
    database_url: str,
    publisher: Publisher,
    from_outbox_id: int,
    to_outbox_id: int | None = None,
    table: str | None = None,
) -> int:
    """Re-publish already handled outbox changes with their original (deterministic) event ids."""
    contracts = ContractRegistry(load_contracts())
    query = (
        f"SELECT o.id, t.commit_seq, t.committed_at,"
        f" o.aggregate_type || ':' || coalesce(o.aggregate_key, ''),"
        f" o.table_name, o.op, o.before, o.after, o.context, o.correlation_id, o.traceparent, o.captured_at"
        f" FROM {SCHEMA}.outbox o JOIN {SCHEMA}.tx_commit t USING (txid)"
        f" WHERE o.outcome = 'published' AND o.id >= %s AND o.id <= %s"
        f" AND (%s::text IS NULL OR o.table_name = %s)"
        f" ORDER BY t.commit_seq, o.id"
    )
    with psycopg.connect(database_url) as conn:
        origin = origin_of(conn)
        rows = conn.execute(query, (from_outbox_id, to_outbox_id or 2**62, table, table)).fetchall()
    messages = [m for row in rows for m in render(_pending(origin, row), contracts)]
    acked = publisher.publish(messages)
    return sum(acked)


if __name__ == "__main__":  # `python -m acl.ops relay DB_URL BOOTSTRAP`: what the fault tests kill -9
    import sys

    if len(sys.argv) >= 4 and sys.argv[1] == "relay":
        run_relay(sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:7]))
    else:
        raise SystemExit(
            "usage: python -m acl.ops relay DATABASE_URL BOOTSTRAP"
            " [BATCH_SIZE [LANES_PER_CLAIM [CHUNK_SIZE]]]"
        )
