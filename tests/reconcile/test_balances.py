"""Balance level: planted balance and double-entry discrepancies are found exactly, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from reconcile import balances
from reconcile.compare import MISMATCH, MISSING_IN_EXTRACTED, MISSING_IN_LEGACY, UNBALANCED, Row
from reconcile.result import BREAKS, CLEAN, INCOMPLETE, RunResult
from tests.reconcile import ledger_fixture
from tests.reconcile.balance_fixture import make_consistent
from tests.reconcile.conftest import LedgerPair

ROWS = 1200  # 12 wallets; one transaction an hour: 50 days


@pytest.fixture
def pair(fresh_database: Callable[[str], str]) -> LedgerPair:
    made = LedgerPair(fresh_database("bal_legacy"), fresh_database("bal_extracted"))
    ledger_fixture.build_legacy(made.legacy, ROWS)
    ledger_fixture.build_extracted(made.extracted, ROWS)
    make_consistent(made)
    return made


def run(pair: LedgerPair) -> dict[str, RunResult]:
    found = balances.check_balances(pair.legacy, pair.extracted, capability="ledger",
                                    mapping_source="ledger.toml", mapping_hash="h",
                                    lag_window=None)
    return {r.comparison: r for r in found}


def test_a_faithful_extracted_ledger_is_clean_at_every_balance_level(pair: LedgerPair) -> None:
    results = run(pair)
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(balances.CHECKS, CLEAN)
    daily = results[balances.BALANCES]
    assert daily.legacy.rows == daily.extracted.rows == 12 * 50 + 1  # the last day has one
    assert daily.legacy.checksum == daily.extracted.checksum


def test_a_planted_amount_change_is_one_wallet_day_net_and_closing_break_plus_the_wallet(
        pair: LedgerPair) -> None:
    # Transaction 25 (wallet 2, 2025-01-02) is 1.00 rupee bigger in the extracted ledger, on
    # both legs, so double entry still holds; the closing balance of every later day drifts.
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_entry SET amount = amount + "
                                           "CASE leg WHEN 'wallet' THEN 1 ELSE -1 END "
                                           "WHERE transaction_id = 25")
    results = run(pair)
    daily = results[balances.BALANCES]
    assert daily.status == BREAKS
    first = daily.breaks[0]
    assert first.key == (2, "INR", "2025-01-02") and first.category == MISMATCH
    assert [(c.column, c.difference) for c in first.columns] == [("net", "1.00"), ("closing", "1.00")]
    later = daily.breaks[1:]
    assert later and all(d.key[0] == 2 and [c.column for c in d.columns] == ["closing"]
                         for d in later)
    assert len(later) == 48  # every later day of wallet 2: 2025-01-03 .. 2025-02-19
    wallet = results[balances.WALLET_BALANCES].breaks
    assert [(d.key, d.columns[0].difference) for d in wallet] == [((2, "INR"), "1.00")]
    assert results[balances.DOUBLE_ENTRY].status == CLEAN


def test_a_one_legged_and_an_unbalanced_transaction_break_double_entry(pair: LedgerPair) -> None:
    ledger_fixture.execute(pair.extracted, "DELETE FROM ledger_entry WHERE transaction_id = 7 "
                                           "AND leg = 'contra'")
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_entry SET amount = amount + 0.01 "
                                           "WHERE transaction_id = 900 AND leg = 'contra'")
    double = run(pair)[balances.DOUBLE_ENTRY]
    assert double.status == BREAKS
    assert [(d.category, d.key) for d in double.breaks] == [(UNBALANCED, (7,)), (UNBALANCED, (900,))]
    assert [c.column for c in double.breaks[0].columns] == ["sum", "legs"]
    assert [(c.column, c.extracted) for c in double.breaks[1].columns] == [("sum", "0.01")]


def test_a_wallet_day_absent_from_the_extracted_ledger_is_missing_in_extracted(
        pair: LedgerPair) -> None:
    # Wallet 5's transactions on 2025-01-03 (ids 52 and 64) never reached the extracted ledger.
    for table, column in (("ledger_entry", "transaction_id"), ("ledger_transaction", "id")):
        ledger_fixture.execute(pair.extracted, f"DELETE FROM {table} WHERE {column} IN (52, 64)")
    daily = run(pair)[balances.BALANCES]
    assert daily.breaks[0].key == (5, "INR", "2025-01-03")
    assert daily.breaks[0].category == MISSING_IN_EXTRACTED


def test_an_empty_or_unreadable_side_makes_every_balance_check_incomplete_never_clean(
        pair: LedgerPair) -> None:
    ledger_fixture.execute(pair.extracted, "TRUNCATE ledger_entry, ledger_transaction")
    assert {r.status for r in run(pair).values()} == {INCOMPLETE}
    gone = LedgerPair(pair.legacy, pair.extracted.rsplit("/", 1)[0] + "/no_such_database")
    results = run(gone)
    assert {r.status for r in results.values()} == {INCOMPLETE}
    assert "no_such_database" in (results[balances.BALANCES].extracted.error or "")


def test_wallet_days_touched_inside_the_lag_window_are_pending_not_breaks() -> None:
    legacy = [Row((1, "INR", "2025-01-01"), ("1.00", "1.00"), datetime(2025, 1, 1, tzinfo=UTC))]
    extracted = [Row((1, "INR", "2025-01-01"), ("2.00", "2.00"), datetime(2025, 1, 1, tzinfo=UTC))]
    before = balances.compare_balances(legacy, extracted, datetime(2024, 12, 31, tzinfo=UTC))
    after = balances.compare_balances(legacy, extracted, datetime(2025, 1, 2, tzinfo=UTC))
    assert [d.pending for d in before] == [True] and [d.pending for d in after] == [False]


def _rows(keys: list[tuple[int, str, str]], log: list[str], side: str) -> Iterator[Row]:
    for key in keys:
        log.append(f"{side} {key[0]}")
        yield Row(key, ("1.00", "1.00"), None)


def test_the_merge_is_lazy_holds_one_key_at_a_time_and_refuses_unordered_input() -> None:
    """Memory flat in table size: each discrepancy is yielded before the streams are read on."""
    log: list[str] = []
    legacy = _rows([(w, "INR", "2025-01-01") for w in (1, 2, 3, 5)], log, "legacy")
    extracted = _rows([(w, "INR", "2025-01-01") for w in (1, 3, 4, 5)], log, "extracted")
    found = balances.merge_compare(legacy, extracted, balances._RULES, None)
    first = next(found)
    assert (first.category, first.key[0]) == (MISSING_IN_EXTRACTED, 2)
    assert log == ["legacy 1", "extracted 1", "legacy 2", "extracted 3", "legacy 3"]
    assert [(d.category, d.key[0]) for d in found] == [(MISSING_IN_LEGACY, 4)]
    backwards = _rows([(2, "INR", "d"), (1, "INR", "d")], [], "legacy")
    with pytest.raises(balances.OrderError, match="not in key order"):
        list(balances.merge_compare(backwards, iter([]), balances._RULES, None))


def test_the_sides_stream_in_the_order_python_merges_in(pair: LedgerPair) -> None:
    """Currency and day sort under COLLATE "C" on both sides, so the merge never goes back;
    a lower-case currency sorts after upper case there as in Python."""
    ledger_fixture.execute(pair.legacy, "UPDATE wallets_wallet SET currency = 'inr' WHERE id = 3")
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_entry SET currency = 'inr' "
                                           "WHERE account = 'wallet:3'")
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_transaction SET currency = 'inr' "
                                           "WHERE wallet_id = 3")
    results = run(pair)
    assert results[balances.BALANCES].status == CLEAN
    assert results[balances.WALLET_BALANCES].status == CLEAN
