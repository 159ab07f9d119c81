"""One contract suite per port, run against the fake and the real adapter alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from acl.adapters.fakes import FakeInbox, FakeOutbox, FakePublisher
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_inbox import PgInboxStore, install_inbox
from acl.adapters.pg_outbox import PgOutboxStore
from acl.domain import Change
from acl.envelope import OutgoingMessage
from acl.ports import InboxStore, OutboxStore, PendingChange, Publisher, QuarantineEntry
from tests.acl.helpers import create_topics, credit, open_wallet, seed_customer

# ---- OutboxStore ------------------------------------------------------------------------------------------

Writer = Callable[[int], None]  # "commit one credit for wallet n"


@pytest.fixture(params=["fake", "postgres"])
def outbox(request: pytest.FixtureRequest) -> Iterator[tuple[OutboxStore, Writer, Callable[[], OutboxStore]]]:
    if request.param == "fake":
        store = FakeOutbox(lanes_per_claim=1)
        seq = iter(range(1, 10**6))

        def write_fake(n: int) -> None:
            i = next(seq)
            change = Change(
                f"x/outbox:{i}", "wallets_transaction", "INSERT", None, {"n": n}, datetime.now(UTC)
            )
            store.add(PendingChange(i, i, datetime.now(UTC), f"wallet:{n}", change))

        yield store, write_fake, lambda: store
        return
    db = request.getfixturevalue("legacy_db")
    with psycopg.connect(db, autocommit=True) as conn:
        m, u = seed_customer(conn)
        wallets = [open_wallet(conn, m, u) for _ in range(3)]
        conn.execute("UPDATE strangler_acl.outbox SET handled_at = now(), outcome = 'published'")
    writer_conn = psycopg.connect(db, autocommit=True)
    stores: list[PgOutboxStore] = []

    def new_store() -> OutboxStore:
        stores.append(PgOutboxStore(db, lanes_per_claim=1))
        return stores[-1]

    yield new_store(), lambda n: credit(writer_conn, wallets[n], 1), new_store
    writer_conn.close()
    for s in stores:
        s.close()


def test_outbox_claims_in_commit_order_and_complete_marks_handled(outbox: tuple[Any, ...]) -> None:
    store, write, _ = outbox
    for _ in range(3):
        write(0)
    with store.claim(100) as batch:
        ids = [p.outbox_id for p in batch.changes]
        assert ids == sorted(ids) and len(ids) >= 3
        batch.complete(ids, [])
    assert store.pending_count() == 0


def test_outbox_leaving_a_claim_without_completing_gives_the_changes_back(outbox: tuple[Any, ...]) -> None:
    store, write, _ = outbox
    write(0)
    with store.claim(100) as batch:
        first = [p.outbox_id for p in batch.changes]
    with store.claim(100) as batch:
        assert [p.outbox_id for p in batch.changes] == first


def test_outbox_a_claimed_lane_is_invisible_to_a_second_claimer(outbox: tuple[Any, ...]) -> None:
    store, write, other_store = outbox
    write(0)
    other = other_store()
    with store.claim(100) as mine:
        assert mine.changes
        with other.claim(100) as theirs:
            aggregates = {p.aggregate for p in theirs.changes}
            assert not aggregates & {p.aggregate for p in mine.changes}


def test_outbox_quarantine_is_stored_with_its_reason(outbox: tuple[Any, ...]) -> None:
    store, write, _ = outbox
    write(1)
    with store.claim(100) as batch:
        p = batch.changes[0]
        batch.complete(
            [q.outbox_id for q in batch.changes[1:]], [QuarantineEntry(p.change, p.outbox_id, "why")]
        )
    assert [q.reason for q in store.quarantined()] == ["why"]
    assert store.pending_count() == 0


# ---- Publisher -------------------------------------------------------------------------------------------


@pytest.fixture(params=["fake", "kafka"])
def publisher(request: pytest.FixtureRequest) -> Iterator[Publisher]:
    if request.param == "fake":
        yield FakePublisher()
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    create_topics(bootstrap, ["contract.test"])
    real = KafkaPublisher(bootstrap)
    yield real
    real.close()


def test_publisher_acknowledges_every_message_of_a_batch(publisher: Publisher) -> None:
    batch = [
        OutgoingMessage("contract.test", b"k", f"{i}".encode(), [("h", b"v")], str(uuid.uuid4()))
        for i in range(10)
    ]
    assert publisher.publish(batch) == [True] * 10
    assert publisher.publish([]) == []


# ---- InboxStore ------------------------------------------------------------------------------------------


@pytest.fixture(params=["fake", "postgres"])
def inbox(request: pytest.FixtureRequest) -> InboxStore:
    if request.param == "fake":
        return FakeInbox()
    url = request.getfixturevalue("fresh_database")("acl_inbox")
    install_inbox(url)
    return PgInboxStore(url)


def test_inbox_records_an_event_once_per_consumer(inbox: InboxStore) -> None:
    with inbox.transaction() as tx:
        assert inbox.record(tx, "svc", "e1") is True
        assert inbox.record(tx, "other", "e1") is True
    with inbox.transaction() as tx:
        assert inbox.record(tx, "svc", "e1") is False
    assert inbox.applied_count("svc") == 1


def test_inbox_a_failed_transaction_records_nothing(inbox: InboxStore) -> None:
    with pytest.raises(RuntimeError), inbox.transaction() as tx:
        inbox.record(tx, "svc", "e2")
        raise RuntimeError("effect failed")
    assert inbox.applied_count("svc") == 0


def test_inbox_records_a_batch_in_one_call_and_returns_only_the_unseen_ids(inbox: InboxStore) -> None:
    with inbox.transaction() as tx:
        assert inbox.record(tx, "svc", "seen") is True
    with inbox.transaction() as tx:
        fresh = inbox.record_many(tx, "svc", ["seen", "a", "b", "a"])
    assert fresh == {"a", "b"}
    assert inbox.applied_count("svc") == 3
