"""A write during the backfill's hand-over: the backfill copies the row first, the live event follows.

The backfill can only guess the wallet's ``updated_at`` (it uses the posting time); the
live event carries the monolith's own value. The demo's shadow diff found the guess
served to clients (``/updated_at`` 1.7 ms off) when the copy won the race: the event,
finding its transaction already there, used to change nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from extracted.ledger_query import domain, projector
from tests.extracted.ledger_query.test_consumer_integration import moved, opened

WALLET_SAVED = "2026-01-01T00:00:07.100000Z"  # the monolith saved the wallet just before the posting


def test_the_live_event_sets_the_wallets_own_updated_at_even_when_the_backfill_copied_its_row(
        ledger_db: str) -> None:
    credited = {**moved(7, 70, "credit", "10.00", "10.00"), "wallet_updated_at": WALLET_SAVED}
    with psycopg.connect(ledger_db) as conn, conn.transaction():
        projector.apply(conn, domain.decide("paystream.wallet.opened.v1", opened(7, 7)), None)
        # what the backfill's merge and fold leave: the row, and the posting time as updated_at
        projector.apply(conn, domain.decide("paystream.wallet.credited.v1", moved(7, 70, "credit",
                                                                                  "10.00", "10.00")),
                        None)
        guessed = conn.execute("SELECT updated_at FROM ledger_wallet WHERE wallet_id = 7").fetchone()
        projector.apply(conn, domain.decide("paystream.wallet.credited.v1", credited), None)
        row = conn.execute("SELECT updated_at, balance, last_transaction_id FROM ledger_wallet"
                           " WHERE wallet_id = 7").fetchone()
        entries = conn.execute("SELECT count(*) FROM ledger_entry WHERE transaction_id = 70").fetchone()
    assert guessed is not None and guessed[0] == datetime(2026, 1, 1, 0, 0, 10, 500000, tzinfo=UTC)
    assert row is not None and row[0] == datetime(2026, 1, 1, 0, 0, 7, 100000, tzinfo=UTC)
    assert row[1:] == (10, 70) and entries == (2,), "the replay posted nothing twice"


def test_an_older_events_updated_at_never_overwrites_a_newer_posting(ledger_db: str) -> None:
    first = {**moved(8, 80, "credit", "5.00", "5.00"), "wallet_updated_at": "2026-01-01T00:00:20Z"}
    second = {**moved(8, 81, "credit", "5.00", "10.00"), "wallet_updated_at": "2026-01-01T00:00:21Z"}
    with psycopg.connect(ledger_db) as conn, conn.transaction():
        projector.apply(conn, domain.decide("paystream.wallet.opened.v1", opened(8, 8)), None)
        for event in (first, second, first):  # the first redelivered after the second
            projector.apply(conn, domain.decide("paystream.wallet.credited.v1", event), None)
        row = conn.execute("SELECT updated_at, last_transaction_id FROM ledger_wallet"
                           " WHERE wallet_id = 8").fetchone()
    assert row == (datetime(2026, 1, 1, 0, 0, 21, tzinfo=UTC), 81)
