"""A steady legacy write load and the checks the fault and retention tests make after it.

Shared by test_faults.py and test_prune.py: the writer commits credits round-robin over
a few wallets (every 10th transaction rolled back on purpose), and ``consume_effects``
runs the real consumer library until the effects of one test's correlation id are in.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from acl.adapters.pg_inbox import PgInboxStore, install_inbox
from acl.consumer import EventConsumer
from acl.envelope import parse_message
from tests.acl.helpers import consumer_config, credit, first, open_wallet, seed_customer, wait_until


def handled(db: str) -> int:
    with psycopg.connect(db) as conn:
        return int(
            first(conn.execute("SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NOT NULL"))
        )


def pending(db: str) -> int:
    with psycopg.connect(db) as conn:
        return int(first(conn.execute("SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL")))


class Load:
    """A steady writer: credits round-robin over wallets; every 10th transaction is rolled back on purpose."""

    def __init__(self, db: str, cid: str, wallets: int = 8) -> None:
        self.db, self.cid = db, cid
        with psycopg.connect(db, autocommit=True) as conn:
            m, u = seed_customer(conn)
            self.wallets = [open_wallet(conn, m, u) for _ in range(wallets)]
        self.committed = 0
        self.references: list[str] = []  # of committed credits, in commit order
        self.commit_times: list[float] = []  # time.monotonic() of each commit
        self.errors: list[Exception] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute("SELECT set_config('strangler.correlation_id', %s, false)", (self.cid,))
            n = 0
            while not self.stop.is_set():
                n += 1
                wallet = self.wallets[n % len(self.wallets)]
                try:
                    if n % 10 == 0:
                        with pytest.raises(RuntimeError), conn.transaction():
                            credit(conn, wallet, 1, reference=f"rolled-back-{n}")
                            raise RuntimeError("abort")
                    else:
                        credit(conn, wallet, 1, reference=f"ok-{n}")
                        self.references.append(f"ok-{n}")
                        self.commit_times.append(time.monotonic())
                        self.committed += 1
                except Exception as exc:  # any error here is a regression the test reports
                    self.errors.append(exc)
                self.stop.wait(0.004)  # a steady ~200 writes/s, not a burst

    def rate(self, since: float, until: float) -> float:
        """Committed writes per second between two ``time.monotonic()`` readings."""
        return sum(1 for t in self.commit_times if since <= t < until) / max(until - since, 1e-9)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def consume_effects(bootstrap: str, consumer_url: str, cid: str, expected: int) -> list[tuple[str, str, str]]:
    """Run the consumer library until ``expected`` effects of this test exist; returns them in order."""
    install_inbox(consumer_url)
    with psycopg.connect(consumer_url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS effects (n serial, wallet text, balance text, reference text)"
        )

    def apply(event: Any, tx: psycopg.Connection[Any]) -> None:
        if event.get_extension("correlationid") != cid or event.get_type() != "paystream.wallet.credited.v1":
            return
        data = event.get_data()
        tx.execute(
            "INSERT INTO effects (wallet, balance, reference) VALUES (%s, %s, %s)",
            (data["wallet_id"], data["balance_after"]["amount"], data["reference"]),
        )

    consumer = EventConsumer(
        bootstrap,
        f"faults-{uuid.uuid4().hex[:6]}",
        ["paystream.wallet"],
        apply,
        PgInboxStore(consumer_url),
        "paystream.wallet.dlq",
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()

    def effects() -> list[tuple[str, str, str]]:
        with psycopg.connect(consumer_url) as conn:
            return [
                tuple(r) for r in conn.execute("SELECT wallet, balance, reference FROM effects ORDER BY n")
            ]

    try:
        wait_until(lambda: len(effects()) >= expected, 120, f"{expected} effects")
    finally:
        stop.set()
        thread.join(30)
    return effects()


def assert_in_order_per_wallet(effects: list[tuple[str, str, str]]) -> None:
    per_wallet: dict[str, list[float]] = defaultdict(list)
    for wallet, balance, _ in effects:
        per_wallet[wallet].append(float(balance))
    for wallet, balances in per_wallet.items():
        assert balances == sorted(balances) and len(set(balances)) == len(balances), (
            f"wallet {wallet} out of order"
        )


def read_all(
    bootstrap: str, topic: str, cid: str, distinct: int, timeout: float = 120
) -> list[dict[str, Any]]:
    """Every record of ``cid`` on ``topic``, duplicates included: reads until ``distinct`` event ids
    were seen and every partition is at its end (``read_topic`` stops at a count, which a
    duplicate would reach early)."""
    consumer = Consumer({**consumer_config(bootstrap), "enable.partition.eof": True})
    records: list[dict[str, Any]] = []
    try:
        parts = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({r["id"] for r in records}) >= distinct and len(at_end) == len(parts):
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, str(error)
                at_end.add(msg.partition() or 0)
                continue
            at_end.discard(msg.partition() or 0)
            event = parse_message(msg.key(), msg.value(), msg.headers())
            if event.get_extension("correlationid") == cid:
                records.append({"id": event.get_id(), "key": (msg.key() or b"").decode(),
                                "type": event.get_type(), "data": event.get_data()})
    finally:
        consumer.close()
    return records
