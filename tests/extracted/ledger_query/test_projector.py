"""The projector's set-based batch path leaves the ledger exactly as one statement per effect would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from extracted.ledger_query import domain as d
from extracted.ledger_query import projector

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def opened(wallet: int) -> d.OpenWallet:
    return d.OpenWallet(wallet, 1, wallet, "INR", "active", T0)


def posted(wallet: int, txn: int, amount: str, after: str, saved: int | None = None) -> d.PostTransaction:
    value = Decimal(amount)
    kind = "credit" if value > 0 else "debit"
    return d.PostTransaction(
        txn, wallet, kind, value, "INR", Decimal(after), f"ref-{txn}", None, None,
        T0 + timedelta(seconds=txn),
        (d.Leg("wallet", f"wallet:{wallet}", value, "INR"), d.Leg("contra", "contra:credit", -value, "INR")),
        None if saved is None else T0 + timedelta(seconds=saved),
    )


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "wallets": conn.execute("SELECT * FROM ledger_wallet ORDER BY wallet_id").fetchall(),
        "transactions": conn.execute("SELECT * FROM ledger_transaction ORDER BY id").fetchall(),
        "entries": conn.execute("SELECT transaction_id, leg, account, amount, currency FROM ledger_entry"
                                " ORDER BY transaction_id, leg").fetchall(),
    }


def test_rounds_hold_each_wallets_postings_in_order_one_per_wallet_per_round() -> None:
    run = [posted(1, 10, "1", "1"), posted(2, 20, "1", "1"), posted(1, 11, "1", "2"),
           posted(1, 12, "1", "3"), posted(3, 30, "1", "1"), posted(2, 21, "1", "2")]
    rounds = projector.rounds(run)
    assert [[(p.wallet_id, p.transaction_id) for p in r] for r in rounds] == [
        [(1, 10), (2, 20), (3, 30)], [(1, 11), (2, 21)], [(1, 12)]]
    assert projector.rounds([]) == []


def test_a_batch_applied_set_based_equals_the_same_effects_applied_one_by_one(ledger_db: str) -> None:
    """Repeats per wallet, a backfilled older posting after a newer one, redeliveries with and
    without the wallet's own updated_at, a posting before its wallet is opened, and non-posting
    effects between postings: the set-based path must match the per-effect path row for row."""
    with psycopg.connect(ledger_db) as conn, conn.transaction():  # committed history both start from
        projector.apply(conn, [opened(1), opened(2), opened(3), posted(3, 300, "50", "50", saved=300)], None)
    batch: list[d.Effect] = [
        posted(1, 101, "10", "10", saved=101), posted(2, 201, "5", "5", saved=201),
        posted(1, 102, "-3", "7", saved=102), posted(3, 299, "1", "49"),  # older than the newest: no move
        posted(1, 103, "1", "8"), posted(2, 201, "5", "5", saved=202),  # redelivered with its saved time
        posted(1, 103, "1", "8", saved=104),  # the live event after a backfill copied the row
        d.ChangeWalletStatus(2, "frozen", T0 + timedelta(seconds=400)),
        posted(2, 202, "2", "7"), posted(4, 401, "9", "9", saved=401),  # wallet 4 not opened yet
        opened(4), posted(4, 402, "1", "10", saved=402), posted(1, 101, "10", "10", saved=101),
    ]
    states = []
    for set_based in (False, True):
        with psycopg.connect(ledger_db) as conn, conn.transaction(force_rollback=True):
            if set_based:
                projector.apply_all(conn, batch)
            else:
                for effect in batch:
                    projector.apply(conn, [effect], None)
            states.append(snapshot(conn))
    one_by_one, set_based_state = states
    assert set_based_state == one_by_one
    assert len(one_by_one["transactions"]) == 9 and len(one_by_one["entries"]) == 18
    assert [w[0:1] + w[6:8] for w in one_by_one["wallets"]] == [
        (1, Decimal("8.00"), 103), (2, Decimal("7.00"), 202), (3, Decimal("50.00"), 300),
        (4, Decimal("10.00"), 402)]
