"""Row-level comparison of canonical rows from both sides. Pure.

Given the rows both sides hold for some keys, say which keys are missing on one
side, duplicated, or mismatched (which column, both values, the difference), with
per-column tolerances, and mark as ``pending`` the discrepancies whose rows were
changed inside the lag window (replication may simply not have caught up).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from reconcile.sql import Key

MISSING_IN_LEGACY = "missing_in_legacy"
MISSING_IN_EXTRACTED = "missing_in_extracted"
MISMATCH = "mismatch"
DUPLICATE = "duplicate"
# Balance level (reconcile.balances): a transaction whose entries do not sum to zero.
UNBALANCED = "unbalanced"
CATEGORIES = (MISSING_IN_LEGACY, MISSING_IN_EXTRACTED, MISMATCH, DUPLICATE, UNBALANCED)


@dataclass(frozen=True)
class Row:
    key: Key
    values: tuple[str | None, ...]  # canonical text per compared column
    changed_at: datetime | None = None


@dataclass(frozen=True)
class ColumnRule:
    name: str
    kind: str
    tolerance: Decimal = Decimal(0)


@dataclass(frozen=True)
class ColumnDiff:
    column: str
    legacy: str | None
    extracted: str | None
    difference: str | None  # extracted - legacy, for numeric columns


@dataclass(frozen=True)
class Discrepancy:
    category: str
    key: Key
    pending: bool = False
    columns: tuple[ColumnDiff, ...] = ()
    legacy_count: int = 0
    extracted_count: int = 0


def compare_key(key: Key, legacy: Sequence[Row], extracted: Sequence[Row],
                rules: Sequence[ColumnRule], cutoff: datetime | None) -> Discrepancy | None:
    """The discrepancy for one key given all rows each side holds for it, or None."""
    pending = cutoff is not None and any(
        r.changed_at is not None and r.changed_at >= cutoff for r in (*legacy, *extracted))
    counts = (len(legacy), len(extracted))
    if not legacy:
        return Discrepancy(MISSING_IN_LEGACY, key, pending, (), *counts)
    if not extracted:
        return Discrepancy(MISSING_IN_EXTRACTED, key, pending, (), *counts)
    if len(legacy) > 1 or len(extracted) > 1:
        # The same repeated rows on both sides are parity, not a difference between sides
        # (and the checksums could not tell them apart either).
        if Counter(r.values for r in legacy) == Counter(r.values for r in extracted):
            return None
        # Which duplicate comes first depends on scan order; compare the least of each side.
        diffs = column_diffs(min(legacy, key=_order), min(extracted, key=_order), rules)
        return Discrepancy(DUPLICATE, key, pending, diffs, *counts)
    diffs = column_diffs(legacy[0], extracted[0], rules)
    if diffs:
        return Discrepancy(MISMATCH, key, pending, diffs, *counts)
    return None


def _order(row: Row) -> tuple[tuple[bool, str], ...]:
    return tuple((v is not None, v or "") for v in row.values)


def column_diffs(legacy: Row, extracted: Row, rules: Sequence[ColumnRule]) -> tuple[
        ColumnDiff, ...]:
    diffs = []
    for rule, mine, theirs in zip(rules, legacy.values, extracted.values, strict=True):
        if mine == theirs:
            continue
        difference = None
        if rule.kind in ("int", "decimal") and mine is not None and theirs is not None:
            delta = Decimal(theirs) - Decimal(mine)
            if abs(delta) <= rule.tolerance:
                continue
            difference = str(delta)
        diffs.append(ColumnDiff(rule.name, mine, theirs, difference))
    return tuple(diffs)


def compare_rows(legacy: Iterable[Row], extracted: Iterable[Row], rules: Sequence[ColumnRule],
                 cutoff: datetime | None) -> list[Discrepancy]:
    """Compare two bags of rows (any order) key by key; result sorted by key."""
    by_key: dict[Key, tuple[list[Row], list[Row]]] = defaultdict(lambda: ([], []))
    for row in legacy:
        by_key[row.key][0].append(row)
    for row in extracted:
        by_key[row.key][1].append(row)
    found = []
    for key in sorted(by_key):
        mine, theirs = by_key[key]
        discrepancy = compare_key(key, mine, theirs, rules, cutoff)
        if discrepancy is not None:
            found.append(discrepancy)
    return found
