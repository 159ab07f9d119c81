"""Pure parts of the backfill: the throttle's pause policy and the row translation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from migrations.backfill import rows
from migrations.backfill.throttle import Throttle


def test_the_pause_doubles_while_the_monolith_p95_is_above_the_bound_and_decays_below_it() -> None:
    throttle = Throttle(bound_ms=50, max_pause=0.4, window=5)
    assert throttle.observe(10) == 0.0  # under the bound: no pause at all
    pauses = [throttle.observe(200) for _ in range(5)]
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.4]  # capped at max_pause
    assert throttle.p95() == 200
    calm = [throttle.observe(5) for _ in range(5)]
    assert calm[-1] < 0.4 and throttle.p95() == 5  # slow samples left the window
    assert [throttle.observe(5) for _ in range(10)][-1] == 0.0


def test_the_minimum_pause_is_kept_even_when_the_monolith_is_fast() -> None:
    assert Throttle(bound_ms=50, min_pause=0.1).observe(1) == 0.1


def test_a_legacy_ledger_row_becomes_the_same_posting_a_live_event_would() -> None:
    row = {"id": 7, "wallet_id": 3, "txn_type": 2, "amount": 1234, "balance_after": 100,
           "status": 1, "reference": "r", "description": "", "related_wallet_id": None,
           "created_at": "2026-01-01T00:00:00.5+00:00"}
    posting = rows.posting(row, "INR")
    assert (posting.transaction_id, posting.amount, posting.kind) == (7, Decimal("-12.34"), "debit")
    assert rows.entry_records(posting) == [(7, "wallet", "wallet:3", Decimal("-12.34"), "INR"),
                                           (7, "contra", "contra:debit", Decimal("12.34"), "INR")]
    with pytest.raises(rows.RowRefused, match="txn_type"):
        rows.posting({**row, "txn_type": 99}, "INR")
