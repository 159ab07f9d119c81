"""Row comparison: categories, differences, tolerances, NULL vs "null", the lag window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from reconcile.compare import ColumnRule, Row, compare_rows

RULES = [ColumnRule("amount", "decimal", Decimal("0.01")), ColumnRule("ref", "text")]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=1)


def test_each_category_with_column_values_and_difference() -> None:
    legacy = [Row((1,), ("1.00", "a"), OLD), Row((2,), ("5.00", "b"), OLD),
              Row((3,), ("1.00", "c"), OLD), Row((4,), ("1.00", "d"), OLD)]
    extracted = [Row((2,), ("5.50", "b"), OLD), Row((3,), ("1.00", "c"), OLD),
                 Row((3,), ("1.00", "c"), OLD), Row((5,), ("1.00", "e"), OLD),
                 Row((4,), ("1.00", "d"), OLD)]
    found = compare_rows(legacy, extracted, RULES, NOW - timedelta(minutes=5))
    assert [(d.category, d.key) for d in found] == [
        ("missing_in_extracted", (1,)), ("mismatch", (2,)), ("duplicate", (3,)),
        ("missing_in_legacy", (5,))]
    diff = found[1].columns[0]
    assert (diff.column, diff.legacy, diff.extracted, diff.difference) == (
        "amount", "5.00", "5.50", "0.50")


def test_null_never_equals_the_string_null() -> None:
    found = compare_rows([Row((1,), ("1.00", "null"))], [Row((1,), ("1.00", None))], RULES, None)
    assert [(c.column, c.legacy, c.extracted) for c in found[0].columns] == [
        ("ref", "null", None)]


def test_difference_within_tolerance_is_not_a_discrepancy() -> None:
    found = compare_rows([Row((1,), ("1.00", "a"))], [Row((1,), ("1.01", "a"))], RULES, None)
    assert found == []


def test_rows_changed_inside_the_lag_window_are_pending() -> None:
    cutoff = NOW - timedelta(minutes=5)
    found = compare_rows([Row((1,), ("1.00", "a"), NOW), Row((2,), ("1.00", "a"), OLD)], [],
                         RULES, cutoff)
    assert [(d.key, d.pending) for d in found] == [((1,), True), ((2,), False)]
