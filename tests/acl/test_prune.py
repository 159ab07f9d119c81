"""Outbox retention: what prune deletes, what it never deletes, and pruning next to running relays."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from acl.adapters.fakes import FakePublisher
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.errors import AclError
from acl.ops import ensure_topics, event_topics
from acl.prune import PruneBusy, PruneResult, parse_window, prune
from acl.relay import PythonRelay
from tests.acl.helpers import credit, first, open_wallet, seed_customer, wait_until
from tests.acl.load import Load, assert_in_order_per_wallet, consume_effects, pending, read_all

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = ContractRegistry(load_contracts())
WEEK = timedelta(days=7)


def scalar(db: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(db) as conn:
        return first(conn.execute(sql, params))


def relay_all(db: str, publisher: FakePublisher) -> None:
    relay = PythonRelay(PgOutboxStore(db), publisher, CONTRACTS)
    while relay.run_once():
        pass
    relay.close()
    relay.store.close()


def bad_ledger_row(conn: psycopg.Connection[Any], wallet: int) -> None:
    """A row the translator cannot understand (unknown txn_type): it is quarantined."""
    conn.execute(
        "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
        " description, created_at) VALUES (%s, 42, 1, 1, 1, 'bad', '', now())",
        (wallet,),
    )


@pytest.fixture
def aged(legacy_db: str) -> dict[str, Any]:
    """An outbox with every kind of row prune must tell apart (see the test's assertions)."""
    publisher = FakePublisher()
    with psycopg.connect(legacy_db, autocommit=True) as conn:
        merchant, user = seed_customer(conn)
        wallet = open_wallet(conn, merchant, user)
        for _ in range(3):
            credit(conn, wallet, 100)
        bad_ledger_row(conn, wallet)  # quarantined, left unresolved
        bad_ledger_row(conn, wallet)  # quarantined, then resolved by an operator
        with conn.transaction():  # one transaction, two aggregates, so two lanes
            credit(conn, wallet, 5)
            conn.execute("UPDATE accounts_user SET full_name = 'Asha K' WHERE id = %s", (user,))
        relay_all(legacy_db, publisher)
        split_tx = first(conn.execute("SELECT txid::text FROM strangler_acl.outbox ORDER BY id DESC LIMIT 1"))
        conn.execute(
            "UPDATE strangler_acl.quarantine SET resolved_at = now()"
            " WHERE id = (SELECT max(id) FROM strangler_acl.quarantine)"
        )
        conn.execute(  # everything so far happened eight days ago (the split row: captured, not handled)
            "UPDATE strangler_acl.outbox SET captured_at = captured_at - interval '8 days',"
            " handled_at = handled_at - interval '8 days'"
        )
        credit(conn, wallet, 7)
        relay_all(legacy_db, publisher)  # handled just now: inside the window
        # that transaction's customer row has not been relayed yet: its lane is behind
        conn.execute(
            "UPDATE strangler_acl.outbox SET handled_at = NULL, outcome = NULL"
            " WHERE txid = %s::xid8 AND table_name = 'accounts_user'",
            (split_tx,),
        )
        credit(conn, wallet, 9)  # not handled at all
    return {"split_tx": split_tx, "publisher": publisher}


def test_prune_deletes_only_rows_handled_before_the_window_and_stamps_nothing_needs(
    legacy_db: str, aged: dict[str, Any]
) -> None:
    db = legacy_db
    old_handled = (
        "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at < now() - interval '7 days'"
    )
    unresolved = (
        "SELECT count(*) FROM strangler_acl.outbox o JOIN strangler_acl.quarantine q ON q.outbox_id = o.id"
        " WHERE q.resolved_at IS NULL"
    )
    expected = scalar(db, old_handled) - scalar(db, unresolved)
    keep = scalar(db, "SELECT count(*) FROM strangler_acl.outbox") - expected
    stamps_before = scalar(db, "SELECT count(*) FROM strangler_acl.tx_commit")
    assert expected >= 10 and scalar(db, unresolved) == 1

    dry = prune(db, WEEK, batch_size=4, dry_run=True)
    assert (dry.outbox_rows, dry.kept_quarantined, dry.dry_run) == (expected, 1, True)
    assert scalar(db, "SELECT count(*) FROM strangler_acl.outbox") == keep + expected, "dry run deleted"
    assert scalar(db, "SELECT count(*) FROM strangler_acl.tx_commit") == stamps_before

    done = prune(db, WEEK, batch_size=4)  # small batches: a transaction's rows span batches
    assert (done.outbox_rows, done.kept_quarantined) == (expected, 1)
    assert 0 < dry.commit_stamps <= done.commit_stamps
    assert scalar(db, "SELECT count(*) FROM strangler_acl.outbox") == keep
    assert scalar(db, "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL") == 3
    recent = "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at > now() - interval '1h'"
    assert scalar(db, recent) > 0
    assert scalar(db, unresolved) == 1, "the unresolved quarantine's row is kept"
    # a stamp is kept exactly while a row of its transaction remains
    assert scalar(db, "SELECT count(*) FROM strangler_acl.tx_commit") == scalar(
        db, "SELECT count(DISTINCT txid) FROM strangler_acl.outbox"
    )
    split = "SELECT count(*) FROM strangler_acl.tx_commit WHERE txid = %s::xid8"
    assert scalar(db, split, aged["split_tx"]) == 1
    assert done.commit_stamps == stamps_before - scalar(db, "SELECT count(*) FROM strangler_acl.tx_commit")
    # the rows left pending are still visible to the relay through their stamps
    publisher: FakePublisher = aged["publisher"]
    sent = len(publisher.sent)
    relay_all(db, publisher)
    assert sorted(m.topic for m in publisher.sent[sent:]) == ["paystream.customer", "paystream.wallet"]
    assert prune(db, WEEK).outbox_rows == 0, "a second run finds nothing more"


def test_a_second_prune_at_the_same_time_is_refused_and_changes_nothing(
    legacy_db: str, aged: dict[str, Any]
) -> None:
    rows = "SELECT count(*) FROM strangler_acl.outbox"
    before = scalar(legacy_db, rows)
    with psycopg.connect(legacy_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('strangler_acl.prune'))")
        with pytest.raises(PruneBusy, match="another `strangler acl prune` is running"):
            prune(legacy_db, WEEK)
        assert scalar(legacy_db, rows) == before
    assert prune(legacy_db, WEEK).outbox_rows > 0, "the lock went with the session that held it"


def test_a_database_without_capture_is_refused_with_the_fix(fresh_database: Callable[[str], str]) -> None:
    with pytest.raises(AclError, match="strangler acl install"):
        prune(fresh_database("acl_no_capture"), WEEK)


@pytest.mark.parametrize("text,expected", [("7d", timedelta(days=7)), ("12h", timedelta(hours=12)),
                                           ("30m", timedelta(minutes=30)), ("2w", timedelta(weeks=2)),
                                           ("0s", timedelta(0))])
def test_windows_are_whole_numbers_with_a_unit(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["7", "7 days", "-1d", "1.5h", ""])
def test_a_window_without_a_unit_or_with_a_fraction_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_window(text)


def test_the_cli_prunes_and_its_dry_run_does_not(legacy_db: str, aged: dict[str, Any]) -> None:
    env = {**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": legacy_db, "COLUMNS": "200"}
    before = scalar(legacy_db, "SELECT count(*) FROM strangler_acl.outbox")

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "strangler", "acl", "prune", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "would delete" in cli("--older-than", "7d", "--dry-run")
    assert scalar(legacy_db, "SELECT count(*) FROM strangler_acl.outbox") == before
    assert "deleted" in cli("--older-than", "7d")
    assert scalar(legacy_db, "SELECT count(*) FROM strangler_acl.outbox") < before


def test_pruning_while_relays_publish_under_writes_loses_nothing_and_publishes_nothing_twice(
    legacy_db: str, kafka_bootstrap: str, fresh_database: Callable[[str], str]
) -> None:
    """Window 0 and tiny batches: prune runs right behind two relays, on rows they just handled."""
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)
    cid = f"prune-{uuid.uuid4().hex[:8]}"
    relays = [PythonRelay(PgOutboxStore(legacy_db, lanes_per_claim=16), KafkaPublisher(kafka_bootstrap),
                          CONTRACTS, batch_size=100, poll_interval=0.05) for _ in range(2)]
    stop = threading.Event()
    pruned: list[PruneResult] = []
    errors: list[Exception] = []

    def prune_loop() -> None:
        while not stop.is_set():
            try:
                pruned.append(prune(legacy_db, timedelta(0), batch_size=50))
            except PruneBusy:
                pass
            except Exception as exc:  # reported below: prune must not fail next to the relay
                errors.append(exc)
            stop.wait(0.05)

    threads = [threading.Thread(target=r.run, args=(stop,)) for r in relays]
    threads += [threading.Thread(target=prune_loop) for _ in range(2)]  # two: one must wait its turn
    for t in threads:
        t.start()
    try:
        with Load(legacy_db, cid) as load:
            wait_until(lambda: sum(p.outbox_rows for p in pruned) > 500, 60, "prune to delete relayed rows")
        wait_until(lambda: pending(legacy_db) == 0, 120, "the relays to drain the outbox")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for r in relays:
            r.close()
            r.store.close()
            r.publisher.close()
    assert not errors and not load.errors
    final = prune(legacy_db, timedelta(0))
    assert scalar(legacy_db, "SELECT count(*) FROM strangler_acl.outbox") == 0
    assert scalar(legacy_db, "SELECT count(*) FROM strangler_acl.tx_commit") == 0, "no stamp left behind"
    assert sum(p.outbox_rows for p in pruned) + final.outbox_rows > load.committed
    records = read_all(kafka_bootstrap, "paystream.wallet", cid, load.committed)
    assert len(records) == load.committed, "each committed write published exactly once"
    assert sorted(r["data"]["reference"] for r in records) == sorted(load.references)
    effects = consume_effects(kafka_bootstrap, fresh_database("acl_prune"), cid, load.committed)
    assert len(effects) == load.committed
    assert_in_order_per_wallet(effects)
