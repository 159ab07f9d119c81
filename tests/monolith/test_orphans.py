"""The orphan sweep's pure decisions: which open transactions hold a debit, and the reversal's text.

The sweep against PostgreSQL and the ledger service: tests/extracted/ledger_query/test_orphan_sweep.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monolith.wallets.orphans import OpenTransaction, OrphanDebit, describe, holding

POSTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEBIT = OrphanDebit(transaction_id=10**15 + 7, wallet_id=3, payout_id=41, amount=250_00, created_at=POSTED)
SECOND = timedelta(seconds=1)


def test_a_transaction_begun_before_the_debit_holds_it_and_one_begun_after_does_not() -> None:
    before, after = OpenTransaction(11, POSTED - SECOND), OpenTransaction(12, POSTED + SECOND)
    assert holding(DEBIT, [before, after], timedelta(0)) == [before]
    assert holding(DEBIT, [after], timedelta(0)) == []


def test_the_clock_margin_counts_a_transaction_begun_just_after_the_debit_as_before_it() -> None:
    just_after, well_after = OpenTransaction(12, POSTED + SECOND), OpenTransaction(13, POSTED + 10 * SECOND)
    assert holding(DEBIT, [just_after, well_after], 5 * SECOND) == [just_after]


def test_a_session_this_role_cannot_inspect_holds_every_debit() -> None:
    hidden = OpenTransaction(14, None)
    assert holding(DEBIT, [hidden], timedelta(0)) == [hidden]
    assert describe([hidden, OpenTransaction(11, POSTED)]) == (
        "pid 14 (not visible to this role), pid 11 (since 2026-03-01T12:00:00+00:00)")


def test_a_reversal_names_its_debit_and_payout_and_is_the_same_every_time() -> None:
    assert DEBIT.reference == "payout:41"
    assert DEBIT.reversal_description() == (
        f"Reversal of orphaned payout debit {10**15 + 7}: payout 41 was never created")
    assert len(DEBIT.reversal_description()) <= 255  # the ledger's and the legacy column's limit
