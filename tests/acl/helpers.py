"""Test helpers for the ACL suite: wait with a deadline, read a topic back, legacy writes in SQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from acl.envelope import parse_message


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_topics(bootstrap: str, topics: list[str], partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [t for t in topics if t not in admin.list_topics(timeout=10).topics]
    if not wanted:
        return
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in wanted]).values():
        try:
            future.result(15)
        except Exception as exc:  # already exists (raced) is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def consumer_config(bootstrap: str, group: str | None = None) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"test-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "enable.auto.commit": False,
    }


def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float = 30.0, correlation_id: str | None = None
) -> list[dict[str, Any]]:
    """Read a topic from the beginning (assign, no group join) until ``expected`` matching records arrived.

    Tests share one broker, so each filters on its own correlation id. Order is
    Kafka's: per partition, hence per key.
    """
    consumer = Consumer(consumer_config(bootstrap))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = list(meta.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(str(error))
            event = parse_message(msg.key(), msg.value(), msg.headers())
            if correlation_id is not None and event.get_extension("correlationid") != correlation_id:
                continue
            records.append(
                {
                    "key": (msg.key() or b"").decode(),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "id": event.get_id(),
                    "type": event.get_type(),
                    "data": event.get_data(),
                    "attributes": event.get_attributes(),
                    "headers": dict(msg.headers() or []),
                }
            )
        return records
    finally:
        consumer.close()


def first(cur: Any) -> Any:
    """The first column of the only row (a test failure, not a TypeError, when there is none)."""
    row = cur.fetchone()
    assert row is not None, "query returned no row"
    return row[0]


# ---- legacy writes in plain SQL (what a psql session or a raw cursor would do) -------------------------


def seed_customer(conn: psycopg.Connection[Any], name: str = "Asha") -> tuple[int, int]:
    """A merchant and a user; returns (merchant_id, user_id)."""
    merchant = first(
        conn.execute(
            "INSERT INTO accounts_merchant (name, email, is_active, created_at) "
            "VALUES ('M', 'm@example.com', true, now()) RETURNING id"
        )
    )
    user = first(
        conn.execute(
            "INSERT INTO accounts_user (merchant_id, external_ref, full_name, email, phone, kyc_status,"
            " created_at,"
            " updated_at) VALUES (%s, %s, %s, '', '', 0, now(), now()) RETURNING id",
            (merchant, uuid.uuid4().hex[:12], name),
        )
    )
    return merchant, user


def open_wallet(conn: psycopg.Connection[Any], merchant: int, user: int) -> int:
    return int(
        first(
            conn.execute(
                "INSERT INTO wallets_wallet (merchant_id, user_id, currency, balance, status, limits_locked,"
                " created_at,"
                " updated_at) VALUES (%s, %s, 'INR', 0, 1, true, now(), now()) RETURNING id",
                (merchant, user),
            )
        )
    )


def credit(conn: psycopg.Connection[Any], wallet: int, paise: int, reference: str = "") -> None:
    """The monolith's credit in SQL: lock the wallet, append the ledger row, move the balance (one txn)."""
    with conn.transaction():
        balance = first(
            conn.execute("SELECT balance FROM wallets_wallet WHERE id = %s FOR UPDATE", (wallet,))
        )
        conn.execute(
            "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
            " description, created_at) VALUES (%s, 1, %s, %s, 1, %s, '', now())",
            (wallet, paise, balance + paise, reference),
        )
        conn.execute(
            "UPDATE wallets_wallet SET balance = %s, updated_at = now() WHERE id = %s",
            (balance + paise, wallet),
        )
