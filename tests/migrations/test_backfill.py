"""The ledger backfill against real databases: idempotent, resumable after a kill, gap-free hand-over.

The hand-over test runs the whole live path next to it — capture triggers, the ACL
relay to a real Kafka-protocol broker (Tansu) and the ledger consumer — while a writer
keeps crediting wallets during the backfill; reconciliation must then find nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from acl.install import install
from acl.ops import build_relay, ensure_topics, event_topics
from extracted.ledger_query.consume import DEAD_LETTER_TOPIC, TOPICS, LedgerConsumer, Projector, contracts
from migrations.backfill import BackfillOptions, run_backfill
from migrations.backfill.errors import SyncNotEnabledError
from migrations.backfill.runner import handover, read_checkpoints
from reconcile import CLEAN, reconcile
from tests.acl.conftest import kafka_bootstrap, legacy_db_factory, legacy_template, tansu
from tests.acl.helpers import credit, open_wallet, seed_customer, wait_until
from tests.extracted.conftest import ledger_db
from tests.migrations.backfill_fixtures import (
    LEDGER_BALANCES,
    LEGACY_BALANCES,
    balances,
    ledger_fingerprint,
    ledger_service_mapping,
    one,
    seed_history,
)

__all__ = ["kafka_bootstrap", "ledger_db", "legacy_db_factory", "legacy_template", "tansu"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def legacy(legacy_db_factory: Callable[[bool], str]) -> str:
    """A monolith database with history written *before* capture was installed, then capture on."""
    url = legacy_db_factory(False)
    seed_history(url)
    install(url)
    return url


def assert_reconciled(legacy_url: str, ledger_url: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = reconcile(ledger_service_mapping(Path(folder)), legacy_url, ledger_url)
    assert [(r.comparison, r.status, len(r.discrepancies)) for r in results] == [
        ("transactions", CLEAN, 0), ("entries", CLEAN, 0)]


def test_backfill_copies_history_and_a_second_run_changes_nothing(legacy: str, ledger_db: str) -> None:
    with psycopg.connect(legacy, autocommit=True) as conn:  # saved after the newest posting
        conn.execute("UPDATE wallets_wallet"
                     " SET updated_at = timestamptz '2026-06-01Z' + id * interval '1 ms'")
        # the monolith's "no reference" is ''; the ledger's is NULL: the mapping says they agree
        conn.execute("UPDATE wallets_transaction SET reference = '' WHERE id % 7 = 0")
    report = run_backfill("ledger", legacy, ledger_db, BackfillOptions(chunk_rows=700))

    assert report.rows_now == 3 + 3000 and all(c.finished for c in report.checkpoints)
    assert one(ledger_db, "SELECT count(*) FROM ledger_entry") == 6000
    assert balances(ledger_db, LEDGER_BALANCES) == balances(legacy, LEGACY_BALANCES)
    assert_reconciled(legacy, ledger_db)
    # the balance endpoint shows the wallet's updated_at: the monolith's own, not a posting time
    saved = "SELECT array_agg(updated_at ORDER BY 1) FROM (SELECT {} AS updated_at FROM {}) s"
    assert one(ledger_db, saved.format("updated_at", "ledger_wallet")) == one(
        legacy, saved.format("updated_at", "wallets_wallet"))
    before = ledger_fingerprint(ledger_db)

    again = run_backfill("ledger", legacy, ledger_db, BackfillOptions(chunk_rows=700))
    forced = run_backfill("ledger", legacy, ledger_db, BackfillOptions(chunk_rows=700, restart=True))

    assert again.chunks_now == 0  # finished checkpoints: nothing read
    assert forced.rows_now == 3003  # everything read and merged again ...
    assert ledger_fingerprint(ledger_db) == before  # ... and nothing changed


def test_each_run_unlocks_the_wallets_of_customers_the_ledger_knows_verified(
        legacy: str, ledger_db: str) -> None:
    """A KYC decision reaches the ledger as an event (``kyc.verified``; the history's as snapshot
    events published just before the backfill). Applied while the wallet's chunk was being merged,
    its unlock found no wallet and the merge no customer: the run's end must unlock it."""
    run_backfill("ledger", legacy, ledger_db)
    assert one(ledger_db, "SELECT bool_and(limits_locked) FROM ledger_wallet") is True  # none verified
    customer = one(ledger_db, "SELECT min(customer_id) FROM ledger_wallet")
    with psycopg.connect(ledger_db, autocommit=True) as conn:  # the consumer's verification, unlock missed
        conn.execute("INSERT INTO ledger_customer (customer_id, kyc_verified_at) VALUES (%s, now())",
                     (customer,))

    run_backfill("ledger", legacy, ledger_db)

    locked = "SELECT array_agg(DISTINCT limits_locked) FROM ledger_wallet WHERE (customer_id = %s) = %s"
    assert one(ledger_db, locked, customer, True) == [False]
    assert one(ledger_db, locked, customer, False) == [True]


def test_a_backfill_killed_mid_way_resumes_from_its_checkpoint_without_doubles(
        legacy: str, ledger_db: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrations.backfill", "ledger", "--legacy-url", legacy,
         "--ledger-url", ledger_db, "--chunk-rows", "100", "--min-pause", "0.1"],
        cwd=REPO, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: any(c.phase == "transactions" and c.rows_done >= 300
                               for c in read_checkpoints(ledger_db)), 60, "three chunks copied")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (_, txns) = read_checkpoints(ledger_db)
    assert not txns.finished and txns.rows_done < 3000
    # the checkpoint moves in the chunk's own transaction: what it says is exactly what is there
    assert one(ledger_db, "SELECT count(*) FROM ledger_transaction") == txns.rows_done

    resumed = run_backfill("ledger", legacy, ledger_db, BackfillOptions(chunk_rows=100))

    assert resumed.rows_now == 3000 - txns.rows_done  # only what was left
    assert one(ledger_db, "SELECT count(*) FROM ledger_transaction") == 3000
    assert one(ledger_db, "SELECT count(*) FROM ledger_entry") == 6000
    assert_reconciled(legacy, ledger_db)


def test_a_backfill_refuses_to_start_without_capture_and_copies_nothing(
        legacy_db_factory: Callable[[bool], str], ledger_db: str) -> None:
    url = legacy_db_factory(False)
    seed_history(url, wallets=1, per_wallet=10)
    with pytest.raises(SyncNotEnabledError, match="Nothing was copied"):
        run_backfill("ledger", url, ledger_db)
    assert one(ledger_db, "SELECT count(*) FROM ledger_transaction") == 0


@pytest.fixture
def live_stream(legacy: str, ledger_db: str, kafka_bootstrap: str) -> Iterator[None]:
    """The ledger consumer (joined, at the topics' end: the shared broker holds other tests'
    events) and the ACL relay, running in threads for the test."""
    from acl.adapters.pg_inbox import PgInboxStore
    from acl.consumer import EventConsumer

    ensure_topics(kafka_bootstrap, sorted({*event_topics(), *TOPICS, DEAD_LETTER_TOPIC}))
    consumer = EventConsumer(kafka_bootstrap, f"backfill-{uuid.uuid4().hex[:8]}", TOPICS,
                             Projector(contracts()), PgInboxStore(ledger_db), DEAD_LETTER_TOPIC, 2,
                             overrides={"auto.offset.reset": "latest", "fetch.wait.max.ms": 10})
    ledger = LedgerConsumer(ledger_db, consumer)
    relay = build_relay(legacy, kafka_bootstrap)
    stop = threading.Event()
    threads = [threading.Thread(target=ledger.run, args=(stop,), daemon=True)]
    threads[0].start()
    wait_until(lambda: one(ledger_db, "SELECT caught_up_at IS NOT NULL FROM ledger_sync_state"),
               60, "the ledger consumer to join its group")
    threads.append(threading.Thread(target=relay.run, args=(stop,), daemon=True))
    threads[1].start()
    yield
    stop.set()
    for thread in threads:
        thread.join(30)
    relay.store.close()
    relay.publisher.close()


def test_writes_during_the_backfill_reach_the_ledger_once_and_reconciliation_is_clean(
        legacy: str, ledger_db: str, live_stream: None) -> None:
    writes = {"count": 0}
    done = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with psycopg.connect(legacy, autocommit=True) as conn:
                wallets = [w for (w,) in conn.execute("SELECT id FROM wallets_wallet").fetchall()]
                wallets.append(open_wallet(conn, *seed_customer(conn, "Live")))  # opened mid-backfill
                while not done.is_set():
                    credit(conn, wallets[writes["count"] % len(wallets)], 1000 + writes["count"],
                           f"live-{writes['count']}")
                    writes["count"] += 1
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    def hold_until_writes(phase: str, rows_done: int, total: int) -> None:
        # the first transactions chunk waits for live writes: they certainly overlap the backfill
        if phase == "transactions" and rows_done <= 250:
            wait_until(lambda: writes["count"] >= 20 or bool(failures), 30, "live writes")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        report = run_backfill("ledger", legacy, ledger_db, BackfillOptions(chunk_rows=250),
                              progress=hold_until_writes)
    finally:
        done.set()
        thread.join(30)
    assert not failures, failures
    written_during = writes["count"]
    assert written_during >= 20
    # the targets were fixed at the start; rows written after that came by the stream only
    assert report.rows_now == sum(c.rows_total for c in report.checkpoints) < 3003 + written_during

    wait_until(lambda: handover(legacy, ledger_db).complete, 60, "the live stream to take over")
    legacy_rows = one(legacy, "SELECT count(*) FROM wallets_transaction")
    assert legacy_rows == 3000 + written_during
    # the hand-over proves the events up to its mark applied; the live writes went on after the
    # mark until the backfill ended, and their events may still be on their way
    wait_until(lambda: one(ledger_db, "SELECT count(*) FROM ledger_transaction") >= legacy_rows, 60,
               "the live writes after the hand-over mark to arrive")
    assert one(ledger_db, "SELECT count(*) FROM ledger_transaction") == legacy_rows
    assert one(ledger_db, "SELECT count(*) FROM ledger_entry") == 2 * legacy_rows
    assert balances(ledger_db, LEDGER_BALANCES) == balances(legacy, LEGACY_BALANCES)
    assert_reconciled(legacy, ledger_db)
