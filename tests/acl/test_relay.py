"""Relay against the real PostgreSQL and the real broker: envelope, ordering, quarantine, concurrency."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from acl.adapters.fakes import FakePublisher
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.backfill import backfill
from acl.contracts import ContractRegistry, load_contracts
from acl.domain import event_id
from acl.envelope import OutgoingMessage
from acl.errors import PublishError
from acl.metrics import RelayMetrics
from acl.ops import ensure_topics, event_topics, replay
from acl.relay import PythonRelay
from tests.acl.helpers import credit, first, open_wallet, read_topic, seed_customer, wait_until

CONTRACTS = ContractRegistry(load_contracts())


@pytest.fixture
def topics(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)


def relay_for(db: str, bootstrap: str, **kw: object) -> PythonRelay:
    lanes = int(kw.pop("lanes_per_claim", 64))  # type: ignore[call-overload]
    return PythonRelay(PgOutboxStore(db, lanes), KafkaPublisher(bootstrap), CONTRACTS, **kw)  # type: ignore[arg-type]


def drain(relay: PythonRelay) -> None:
    while relay.run_once():
        pass


def pending(db: str) -> int:
    with psycopg.connect(db) as conn:
        return int(first(conn.execute("SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL")))


def tag() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def tagged(conn: psycopg.Connection[object], cid: str) -> None:
    conn.execute("SELECT set_config('strangler.correlation_id', %s, false)", (cid,))


def test_a_credit_reaches_kafka_as_a_cloudevent_keyed_by_wallet(
    legacy_db: str, kafka_bootstrap: str, topics: None
) -> None:
    cid = tag()
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        tagged(conn, cid)
        m, u = seed_customer(conn)
        wallet = open_wallet(conn, m, u)
        credit(conn, wallet, 250_00, reference="order-1")
        ledger_outbox_id = first(
            conn.execute("SELECT id FROM strangler_acl.outbox WHERE table_name = 'wallets_transaction'")
        )
        origin = first(conn.execute("SELECT id FROM strangler_acl.origin"))
    metrics = RelayMetrics.create(CollectorRegistry())
    relay = relay_for(legacy_db, kafka_bootstrap, metrics=metrics)
    drain(relay)
    assert pending(legacy_db) == 0
    records = read_topic(kafka_bootstrap, "paystream.wallet", 2, correlation_id=cid)
    assert [r["type"] for r in records] == ["paystream.wallet.opened.v1", "paystream.wallet.credited.v1"]
    credited = records[1]
    assert credited["key"] == str(wallet)
    assert credited["id"] == event_id(f"{origin}/outbox:{ledger_outbox_id}", 0)
    assert credited["data"]["amount"] == {"amount": "250.00", "currency": "INR"}
    assert credited["headers"]["ce_correlationid"] == cid.encode()
    assert credited["headers"]["traceparent"].startswith(b"00-")
    assert credited["headers"]["content-type"] == b"application/json"
    assert next(iter(metrics.commit_to_ack.collect())).samples  # latency observed
    relay.publisher.close()


def test_bad_rows_are_quarantined_with_a_reason_and_do_not_block_other_aggregates(
    legacy_db: str, kafka_bootstrap: str, topics: None
) -> None:
    cid = tag()
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        tagged(conn, cid)
        m, u = seed_customer(conn)
        bad, good = open_wallet(conn, m, u), open_wallet(conn, m, u)
        conn.execute(
            "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
            " description, created_at) VALUES (%s, 42, 100, 100, 1, '', '', now())",
            (bad,),
        )
        credit(conn, good, 100)
    registry = CollectorRegistry()
    relay = relay_for(legacy_db, kafka_bootstrap, metrics=RelayMetrics.create(registry))
    drain(relay)
    [entry] = relay.store.quarantined()
    assert entry.reason == "unknown txn_type code 42" and entry.change.table == "wallets_transaction"
    assert (
        registry.get_sample_value(
            "strangler_acl_quarantined_total", {"table": "wallets_transaction", "reason_kind": "translation"}
        )
        == 1
    )
    records = read_topic(kafka_bootstrap, "paystream.wallet", 3, correlation_id=cid)
    assert sorted((r["key"], r["type"].split(".")[2]) for r in records) == sorted(
        [(str(bad), "opened"), (str(good), "opened"), (str(good), "credited")]
    )
    assert pending(legacy_db) == 0
    relay.publisher.close()


def test_several_relays_at_once_publish_each_change_once_and_in_order_per_wallet(
    legacy_db: str, kafka_bootstrap: str, topics: None
) -> None:
    wallets, credits_each = 12, 25
    cid = tag()
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        tagged(conn, cid)
        m, u = seed_customer(conn)
        ids = [open_wallet(conn, m, u) for _ in range(wallets)]
    stop = threading.Event()
    relays = [
        relay_for(legacy_db, kafka_bootstrap, batch_size=20, lanes_per_claim=4, poll_interval=0.05)
        for _ in range(3)
    ]
    threads = [threading.Thread(target=r.run, args=(stop,)) for r in relays]
    for t in threads:
        t.start()

    def writer(wallet_ids: list[int]) -> None:
        with psycopg.connect(legacy_db, autocommit=True) as conn:
            tagged(conn, cid)
            for _ in range(credits_each):
                for w in wallet_ids:
                    credit(conn, w, 1)

    writers = [
        threading.Thread(target=writer, args=(ids,)) for _ in range(2)
    ]  # two writers contend per wallet
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    wait_until(lambda: pending(legacy_db) == 0, 60, "outbox to drain")
    stop.set()
    for t in threads:
        t.join(10)
    expected = wallets + 2 * wallets * credits_each
    records = read_topic(kafka_bootstrap, "paystream.wallet", expected, correlation_id=cid)
    assert len(records) == expected
    assert len({r["id"] for r in records}) == expected, "no change was published twice"
    balances: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r["type"] == "paystream.wallet.credited.v1":
            balances[r["key"]].append(r["data"]["balance_after"]["amount"])
    for key, seen in balances.items():
        amounts = [float(a) for a in seen]
        assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts), f"wallet {key} out of order"
    for relay in relays:
        relay.publisher.close()
        relay.store.close()


def test_backfill_publishes_existing_rows_with_deterministic_ids_and_resumes(
    legacy_db_factory: object, kafka_bootstrap: str, topics: None
) -> None:
    db = legacy_db_factory(False)  # type: ignore[operator]
    with psycopg.connect(db, autocommit=True) as conn:
        m, u = seed_customer(conn, name=f"bf-{uuid.uuid4().hex[:6]}")
        for _ in range(5):
            open_wallet(conn, m, u)
    from acl.install import install

    install(db)  # capture arrives after the data existed: exactly what a backfill is for
    cid = tag()
    publisher = KafkaPublisher(kafka_bootstrap)
    seen: list[tuple[int, int]] = []
    assert (
        backfill(
            db,
            "wallets_wallet",
            publisher,
            CONTRACTS,
            batch_size=2,
            correlation_id=cid,
            progress=lambda d, t: seen.append((d, t)),
        )
        == 5
    )
    assert seen[-1] == (5, 5)
    assert backfill(db, "wallets_wallet", publisher, CONTRACTS, correlation_id=cid) == 0, (
        "resumes after the last acknowledged row"
    )
    assert backfill(db, "wallets_wallet", publisher, CONTRACTS, restart=True, correlation_id=cid) == 5
    records = read_topic(kafka_bootstrap, "paystream.wallet", 10, correlation_id=cid)
    by_key: dict[str, list[str]] = defaultdict(list)
    for r in records:
        by_key[r["key"]].append(r["id"])
    assert len(by_key) == 5 and all(len(ids) == 2 and ids[0] == ids[1] for ids in by_key.values()), (
        "each unchanged row was published twice with the same event id"
    )
    publisher.close()


def test_replay_republishes_with_the_original_event_ids(
    legacy_db: str, kafka_bootstrap: str, topics: None
) -> None:
    cid = tag()
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        tagged(conn, cid)
        m, u = seed_customer(conn)
        credit(conn, open_wallet(conn, m, u), 7)
    relay = relay_for(legacy_db, kafka_bootstrap)
    drain(relay)
    assert replay(legacy_db, relay.publisher, from_outbox_id=0, table="wallets_transaction") == 1
    records = read_topic(kafka_bootstrap, "paystream.wallet", 3, correlation_id=cid)
    assert records[1]["id"] == records[2]["id"] and records[2]["type"] == "paystream.wallet.credited.v1"
    relay.publisher.close()


class _FlakyPublisher(FakePublisher):
    """Our own port's fake, refusing on cue: a whole publish call (``fail_call``, 1-based) raises
    PublishError, or single events (``refused``, by event id) come back unacknowledged."""

    def __init__(self, fail_call: int | None = None, refused: set[str] | None = None) -> None:
        super().__init__()
        self.calls, self.fail_call, self.refused = 0, fail_call, refused or set()

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        self.calls += 1
        if self.calls == self.fail_call:
            raise PublishError("broker unreachable (test)")
        results = [m.event_id not in self.refused for m in messages]
        self.sent += [m for m, ok in zip(messages, results, strict=True) if ok]
        return results


def _credits_in_chunks(db: str, wallets: int, credits_each: int) -> list[int]:
    """Fresh wallets with credits interleaved across them, everything else already handled."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE strangler_acl.outbox SET handled_at = now(), outcome = 'published'")
        m, u = seed_customer(conn)
        ids = [open_wallet(conn, m, u) for _ in range(wallets)]
        for _ in range(credits_each):
            for w in ids:
                credit(conn, w, 1)
    return ids


def test_a_failed_chunk_rolls_back_the_marks_of_the_chunks_already_delivered(legacy_db: str) -> None:
    _credits_in_chunks(legacy_db, wallets=3, credits_each=4)  # 3 opened + 12 credited rows
    before = pending(legacy_db)
    flaky = _FlakyPublisher(fail_call=3)
    relay = PythonRelay(PgOutboxStore(legacy_db), flaky, CONTRACTS)
    relay.chunk_size = 2  # chunks 1 and 2 are delivered and marked early, chunk 3 fails
    with pytest.raises(PublishError):
        relay.run_once()
    assert len(flaky.sent) >= 2 * 2  # (later chunks may have gone out too before the failure was seen)
    assert pending(legacy_db) == before, "marks of delivered chunks are not visible without complete"
    again = _FlakyPublisher()
    relay.publisher = again
    drain(relay)
    relay.close()
    relay.store.close()
    assert pending(legacy_db) == 0
    assert {m.event_id for m in flaky.sent} <= {m.event_id for m in again.sent}, "redelivered, same ids"


def test_a_refused_event_holds_back_its_wallet_from_then_on_across_chunks(legacy_db: str) -> None:
    wallets = _credits_in_chunks(legacy_db, wallets=2, credits_each=5)
    victim = str(wallets[0])
    probe = _FlakyPublisher()
    relay = PythonRelay(PgOutboxStore(legacy_db), probe, CONTRACTS)
    with relay.store.claim(100) as batch:  # what the relay will see, in its order (then given back)
        order = [p for p in batch.changes if p.aggregate == f"wallet:{victim}"]
    refused_change = order[3]  # the victim's third credit: in a later chunk than its first ones
    refused_id = event_id(refused_change.change.source_id, 0)
    flaky = _FlakyPublisher(refused={refused_id})
    relay.publisher, relay.chunk_size = flaky, 3
    with pytest.raises(PublishError):
        relay.run_once()
    with psycopg.connect(legacy_db) as conn:
        left = [r[0] for r in conn.execute(
            "SELECT id FROM strangler_acl.outbox WHERE handled_at IS NULL ORDER BY id").fetchall()]
    assert left == [p.outbox_id for p in order[3:]], "the victim's earlier changes marked, none after"
    relay.publisher = _FlakyPublisher()
    drain(relay)
    relay.close()
    relay.store.close()
    assert pending(legacy_db) == 0
