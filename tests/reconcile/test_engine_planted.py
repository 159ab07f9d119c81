"""Planted discrepancies: the bisection run finds exactly the planted set — every kind,
no false positives, no misses — and agrees with the naive full comparison."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from reconcile.bootstrap import check_against, run_comparison, sides_for
from reconcile.compare import (
    DUPLICATE,
    MISMATCH,
    MISSING_IN_EXTRACTED,
    MISSING_IN_LEGACY,
)
from reconcile.engine import Engine, Options
from reconcile.mapping import parse_mapping
from reconcile.naive import naive_compare
from reconcile.result import BREAKS, CLEAN, INCOMPLETE
from reconcile.sql import ROW_HASHES
from tests.reconcile.conftest import LEDGER_ROWS, LedgerPair
from tests.reconcile.ledger_fixture import execute

# Small segments so a 3000-row table still bisects through several levels.
DEEP = Options(segment_rows=50, fanout=4, leaf_rows=8)


def found(result_discrepancies: list) -> set[tuple[str, tuple, bool]]:
    return {(d.category, d.key, d.pending) for d in result_discrepancies}


def test_faithful_copy_is_clean_with_equal_counts_and_checksums(ledger_pair: LedgerPair) -> None:
    result = run_comparison(ledger_pair.checked(), ledger_pair.legacy, ledger_pair.extracted)
    assert result.status == CLEAN
    assert result.discrepancies == []
    assert result.legacy.rows == result.extracted.rows == LEDGER_ROWS
    assert result.legacy.checksum == result.extracted.checksum


def test_every_planted_kind_is_found_exactly(ledger_pair: LedgerPair) -> None:
    legacy, extracted = ledger_pair.legacy, ledger_pair.extracted
    now = datetime.now(UTC)
    execute(extracted, "DELETE FROM ledger_transaction WHERE id = 101")
    execute(legacy, "DELETE FROM wallets_transaction WHERE id = 202")
    execute(extracted, "UPDATE ledger_transaction SET amount = amount + 0.01 WHERE id = 303")
    execute(extracted, "UPDATE ledger_transaction SET currency = 'USD' WHERE id = 404")
    execute(extracted, "UPDATE ledger_transaction SET status = 'reversed' WHERE id = 505")
    execute(extracted, "INSERT INTO ledger_transaction SELECT * FROM ledger_transaction "
                       "WHERE id = 606")
    execute(legacy, "UPDATE wallets_transaction SET reference = 'null' WHERE id = 707")
    execute(extracted, "UPDATE ledger_transaction SET reference = NULL WHERE id = 707")
    # Just written in legacy, not yet replicated: inside the 300 s lag window.
    execute(legacy, "INSERT INTO wallets_transaction SELECT 5000, txn_type, amount, 0, 1, "
                    "'late', '', %s, NULL, wallet_id FROM wallets_transaction WHERE id = 1",
            (now - timedelta(seconds=5),))
    planted = {
        (MISSING_IN_EXTRACTED, (101,), False),
        (MISSING_IN_LEGACY, (202,), False),
        (MISMATCH, (303,), False),
        (MISMATCH, (404,), False),
        (MISMATCH, (505,), False),
        (DUPLICATE, (606,), False),
        (MISMATCH, (707,), False),
        (MISSING_IN_EXTRACTED, (5000,), True),
    }
    checked = ledger_pair.checked()
    result = run_comparison(checked, legacy, extracted, DEEP)
    assert found(result.discrepancies) == planted
    assert result.status == BREAKS
    by_key = {d.key: d for d in result.discrepancies}
    amount = by_key[(303,)].columns[0]
    assert (amount.column, amount.difference) == ("amount", "0.01")
    assert [c.column for c in by_key[(404,)].columns] == ["currency"]
    assert [c.column for c in by_key[(505,)].columns] == ["status"]
    null_vs_string = by_key[(707,)].columns[0]
    assert (null_vs_string.legacy, null_vs_string.extracted) == ("null", None)
    assert (by_key[(606,)].legacy_count, by_key[(606,)].extracted_count) == (1, 2)
    cutoff = datetime.now(UTC) - checked.comparison.lag_window
    assert found(naive_compare(checked, legacy, extracted, cutoff)) == planted


def test_planted_breaks_in_double_entry_legs_are_found_by_composite_key(
        ledger_pair: LedgerPair) -> None:
    extracted = ledger_pair.extracted
    execute(extracted, "DELETE FROM ledger_entry WHERE transaction_id = 11 AND leg = 'contra'")
    execute(extracted, "UPDATE ledger_entry SET account = 'wallet:999' "
                       "WHERE transaction_id = 1200 AND leg = 'wallet'")
    execute(extracted, "INSERT INTO ledger_entry VALUES (2999, 'fee', 'contra:fee', 0, 'INR', 2999,"
                       " '2025-01-01')")
    result = run_comparison(ledger_pair.checked("entries"), ledger_pair.legacy, extracted, DEEP)
    assert found(result.discrepancies) == {
        (MISSING_IN_EXTRACTED, (11, "contra"), False),
        (MISMATCH, (1200, "wallet"), False),
        (MISSING_IN_LEGACY, (2999, "fee"), False),
    }
    assert result.legacy.rows == 2 * LEDGER_ROWS


TEXT_MAPPING = """
[mapping]
capability = "merchants"

[[comparison]]
name = "merchants"
[comparison.legacy]
table = "merchant_ref"
alias = "m"
[comparison.extracted]
table = "merchant"
alias = "x"
[[comparison.key]]
name = "code"
legacy = "m.code"
extracted = "x.code"
[[comparison.columns]]
name = "name"
legacy = "m.name"
extracted = "x.name"
"""

# Keys whose order differs between byte order and linguistic collations (case, accents,
# punctuation, prefixes): a side that ordered by its column's collation would misplace them.
TEXT_KEYS = ["a", "B", "b", "Ab", "aB", "_x", "-x", "É", "e", "é", "ß", "ss", "a-b", "ab",
             "z", "Z", "0", "10", "9", "ä", "ae", "Å", "Ω", "😀", "a b", "a\tb"]


def test_text_keys_compare_in_byte_order_whatever_each_side_collation(
        fresh_database: Callable[[str], str]) -> None:
    """The extracted key column gets a linguistic (ICU) collation where the server has ICU;
    this embedded build has none, so there both sides order by code point and the test
    checks byte order against Python's and the planted set only."""
    legacy, extracted = fresh_database("recon_tl"), fresh_database("recon_te")
    execute(legacy, "CREATE TABLE merchant_ref (code varchar(40) PRIMARY KEY, name text)")
    collation = "unicode" if _has_icu(extracted) else "default"
    execute(extracted, f'CREATE TABLE merchant (code text COLLATE "{collation}" PRIMARY KEY, '
                       "name text)")
    for i, key in enumerate(TEXT_KEYS * 1):
        for suffix in ("", "1", "2"):
            execute(legacy, "INSERT INTO merchant_ref VALUES (%s, %s)", (key + suffix, f"n{i}"))
            execute(extracted, "INSERT INTO merchant VALUES (%s, %s)", (key + suffix, f"n{i}"))
    execute(extracted, "DELETE FROM merchant WHERE code = 'B'")
    execute(legacy, "DELETE FROM merchant_ref WHERE code = 'é1'")
    execute(extracted, "UPDATE merchant SET name = 'changed' WHERE code = 'ß2'")
    checked, = check_against(parse_mapping(TEXT_MAPPING), legacy, extracted)
    result = run_comparison(checked, legacy, extracted, Options(segment_rows=5, fanout=3,
                                                                 leaf_rows=2))
    assert found(result.discrepancies) == {
        (MISSING_IN_EXTRACTED, ("B",), False),
        (MISSING_IN_LEGACY, ("é1",), False),
        (MISMATCH, ("ß2",), False),
    }


def _has_icu(url: str) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute("SELECT 'a' < 'B' COLLATE \"unicode\"")
        except psycopg.errors.FeatureNotSupported:
            return False
    return True


def test_row_in_lag_window_becomes_a_break_if_still_missing_after_the_window(
        ledger_pair: LedgerPair) -> None:
    """The end-of-run recheck uses the clock again: past the window, pending is a break."""
    now = datetime.now(UTC)
    execute(ledger_pair.extracted, "UPDATE ledger_transaction SET created_at = %s, "
                                   "amount = amount + 1 WHERE id = 42", (now,))
    execute(ledger_pair.legacy, "UPDATE wallets_transaction SET created_at = %s WHERE id = 42",
            (now,))
    checked = ledger_pair.checked()
    legacy, extracted = sides_for(checked, ledger_pair.legacy, ledger_pair.extracted)
    ticks = iter([now, now, now + timedelta(hours=1), now + timedelta(hours=1)])
    engine = Engine(checked, legacy, extracted, DEEP)
    engine.clock = lambda: next(ticks)
    result = engine.run()
    assert found(result.discrepancies) == {(MISMATCH, (42,), False)}


def test_row_in_lag_window_that_catches_up_before_the_recheck_is_not_reported(
        ledger_pair: LedgerPair) -> None:
    now = datetime.now(UTC)
    execute(ledger_pair.legacy, "UPDATE wallets_transaction SET created_at = %s WHERE id = 42",
            (now,))
    execute(ledger_pair.extracted, "UPDATE ledger_transaction SET created_at = %s, "
                                   "amount = amount + 1 WHERE id = 42", (now,))

    def replication_catches_up() -> None:
        execute(ledger_pair.extracted, "UPDATE ledger_transaction SET amount = amount - 1 "
                                       "WHERE id = 42")

    checked = ledger_pair.checked()
    legacy, extracted = sides_for(checked, ledger_pair.legacy, ledger_pair.extracted)
    result = Engine(checked, legacy, extracted, DEEP, before_recheck=replication_catches_up).run()
    assert result.discrepancies == []
    assert result.status == CLEAN


def test_empty_side_makes_the_run_incomplete_never_clean(ledger_pair: LedgerPair) -> None:
    execute(ledger_pair.extracted, "TRUNCATE ledger_transaction")
    result = run_comparison(ledger_pair.checked(), ledger_pair.legacy, ledger_pair.extracted)
    assert result.status == INCOMPLETE
    assert any("extracted side has no rows" in r for r in result.incomplete_reasons)


def test_unreadable_side_makes_the_run_incomplete(ledger_pair: LedgerPair) -> None:
    checked = ledger_pair.checked()
    execute(ledger_pair.extracted, "DROP TABLE ledger_transaction")
    result = run_comparison(checked, ledger_pair.legacy, ledger_pair.extracted)
    assert result.status == INCOMPLETE
    assert result.extracted.error and "ledger_transaction" in result.extracted.error


@pytest.mark.parametrize("tolerance", ["0.01", "0"])
def test_column_tolerance_hides_only_differences_within_it(ledger_pair: LedgerPair,
                                                           tolerance: str) -> None:
    from reconcile.mappings import LEDGER

    text = LEDGER.read_text().replace('tolerance = "0"', f'tolerance = "{tolerance}"')
    execute(ledger_pair.extracted, "UPDATE ledger_transaction SET amount = amount + 0.01 "
                                   "WHERE id = 10")
    execute(ledger_pair.extracted, "UPDATE ledger_transaction SET amount = amount + 0.02 "
                                   "WHERE id = 20")
    checked = check_against(parse_mapping(text), ledger_pair.legacy, ledger_pair.extracted)[0]
    result = run_comparison(checked, ledger_pair.legacy, ledger_pair.extracted)
    expected = {(20,)} if tolerance == "0.01" else {(10,), (20,)}
    assert {d.key for d in result.discrepancies} == expected


@pytest.mark.parametrize("row_hash", sorted(ROW_HASHES))
def test_every_row_hash_finds_the_same_planted_set(ledger_pair: LedgerPair,
                                                    row_hash: str) -> None:
    """The chained digest (default) and the whole-record hashes agree, NULL vs "null" too."""
    legacy, extracted = ledger_pair.legacy, ledger_pair.extracted
    execute(extracted, "UPDATE ledger_transaction SET amount = amount + 0.01 WHERE id = 303")
    execute(legacy, "UPDATE wallets_transaction SET reference = 'null' WHERE id = 707")
    execute(extracted, "UPDATE ledger_transaction SET reference = NULL WHERE id = 707")
    execute(extracted, "UPDATE ledger_transaction SET reference = '' WHERE id = 808")
    result = run_comparison(ledger_pair.checked(), legacy, extracted, DEEP, row_hash=row_hash)
    assert {d.key for d in result.discrepancies} == {(303,), (707,), (808,)}
    assert result.legacy.rows == result.extracted.rows == LEDGER_ROWS
