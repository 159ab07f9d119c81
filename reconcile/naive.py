"""The naive baseline: stream both sides ordered by key and compare every row in Python.

Used as the benchmark's baseline and as the test oracle the bisection must agree
with. Streams through server-side cursors, so memory stays flat in table size.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import groupby
from typing import Any

import psycopg

from reconcile.check import CheckedComparison
from reconcile.compare import ColumnRule, Discrepancy, Row, compare_key
from reconcile.sql import SESSION_SETUP, Key, SideSql, compile_side


def _stream(url: str, sql: SideSql, counter: list[int]) -> Iterator[tuple[Key, list[Row]]]:
    n, m = len(sql.key_kinds), len(sql.column_names)
    cols = ", ".join(sql.key_cols() + [f"s.c{i}" for i in range(m)] + ["s.changed_at"])
    query = f"SELECT {cols} FROM ({sql.projection()}) AS s ORDER BY {', '.join(sql.key_cols())}"
    with psycopg.connect(url) as conn, conn.cursor(name="naive") as cursor:
        conn.execute(SESSION_SETUP)
        cursor.itersize = 20000
        cursor.execute(query.encode())
        rows = (Row(tuple(r[:n]), tuple(r[n:n + m]), r[n + m]) for r in cursor)

        def counted(row: Row) -> Key:
            counter[0] += 1
            return row.key

        for key, group in groupby(rows, key=counted):
            yield key, list(group)


def naive_compare(checked: CheckedComparison, legacy_url: str, extracted_url: str,
                  cutoff: datetime | None = None,
                  counts: dict[str, int] | None = None) -> list[Discrepancy]:
    """Every discrepancy, found by a full ordered merge of both sides."""
    rules = [ColumnRule(c.name, checked.kinds[c.name].kind, c.tolerance)
             for c in checked.comparison.columns]
    seen = {"legacy": [0], "extracted": [0]}
    mine = _stream(legacy_url, compile_side(checked, "legacy"), seen["legacy"])
    theirs = _stream(extracted_url, compile_side(checked, "extracted"), seen["extracted"])
    found: list[Discrepancy] = []
    sentinel: tuple[Any, list[Row]] = (None, [])
    a, b = next(mine, sentinel), next(theirs, sentinel)
    pair: tuple[list[Row], list[Row]]
    while a[0] is not None or b[0] is not None:
        if b[0] is None or (a[0] is not None and a[0] < b[0]):
            key, pair, a = a[0], (a[1], []), next(mine, sentinel)
        elif a[0] is None or b[0] < a[0]:
            key, pair, b = b[0], ([], b[1]), next(theirs, sentinel)
        else:
            key, pair = a[0], (a[1], b[1])
            a, b = next(mine, sentinel), next(theirs, sentinel)
        discrepancy = compare_key(key, pair[0], pair[1], rules, cutoff)
        if discrepancy is not None:
            found.append(discrepancy)
    if counts is not None:
        counts.update({side: seen[side][0] for side in seen})
    return found
