"""Test helpers: publish domain events exactly as the ACL relay does (CloudEvents, Kafka binary)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.domain import DomainEvent
from acl.envelope import OutgoingMessage, to_message


def message(
    event_type: str,
    aggregate: str,
    aggregate_id: str,
    data: dict[str, Any],
    event_id: str | None = None,
    at: datetime | None = None,
) -> OutgoingMessage:
    event = DomainEvent(event_type, aggregate, aggregate_id, at or datetime.now(UTC), data)
    return to_message(event, event_id or str(uuid.uuid4()), "ledger-test", None)


def publish(bootstrap: str, messages: list[OutgoingMessage]) -> None:
    publisher = KafkaPublisher(bootstrap)
    try:
        assert all(publisher.publish(messages)), "the broker did not acknowledge every test event"
    finally:
        publisher.close()


def dead_letters(
    bootstrap: str, topic: str, event_ids: set[str], timeout: float = 30.0
) -> dict[str, dict[str, str]]:
    """event id -> dlq headers, for the given ids, read from the beginning of the topic."""
    from acl.envelope import parse_message

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"dlq-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    found: dict[str, dict[str, str]] = {}
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        deadline = time.monotonic() + timeout
        while set(found) != event_ids and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:  # EOF and transient errors: keep reading
                continue
            event = parse_message(msg.key(), msg.value(), msg.headers())
            if event.get_id() in event_ids:
                found[event.get_id()] = {
                    k: v.decode() if isinstance(v, bytes) else str(v)
                    for k, v in list(msg.headers() or [])
                    if isinstance(k, str) and k.startswith("dlq_")
                }
    finally:
        consumer.close()
    return found
