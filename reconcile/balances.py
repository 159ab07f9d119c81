"""Balance level of the ledger reconciliation, and the extracted ledger's double-entry invariant.

Three checks, each a :class:`RunResult` like the row-level comparisons, so reports,
manifests and certificates treat them alike:

    balances         per wallet, currency and UTC day: the legacy day's net movement and
                     closing running balance (``balance_after`` of the day's last
                     transaction) against the sum of the extracted wallet-leg entries that
                     day and their cumulative sum
    wallet_balances  per wallet and currency: ``wallets_wallet.balance`` against the sum of
                     every extracted wallet-leg entry
    double_entry     extracted only: every transaction's entries sum to zero, in one currency

Amounts are compared as rupees with two decimals (legacy paise / 100). The SQL below is
pure text; :func:`check_balances` is the adapter that runs it (psycopg) and maps errors to
``incomplete`` results.

Memory is flat in the ledger's size: each side aggregates in SQL and returns its rows
ordered by key (wallet, then currency and day under ``COLLATE "C"``, the order Python
compares strings in) through a server-side cursor; :func:`merge_compare` walks the two
ordered streams together, holding one key at a time. Only the discrepancies are kept.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any

import psycopg

from reconcile.compare import (
    UNBALANCED,
    ColumnDiff,
    ColumnRule,
    Discrepancy,
    Row,
    compare_key,
    compare_rows,
)
from reconcile.errors import SideUnavailableError
from reconcile.result import RunResult, SideSummary

BALANCES, WALLET_BALANCES, DOUBLE_ENTRY = "balances", "wallet_balances", "double_entry"
CHECKS = (BALANCES, WALLET_BALANCES, DOUBLE_ENTRY)
OUTBOUND_CODES = (2, 4, 5)  # DEBIT, TRANSFER_OUT, PAYOUT take money out (monolith.wallets.models)
POSTED = 1

_RULES = (ColumnRule("net", "decimal"), ColumnRule("closing", "decimal"))
_WALLET_RULES = (ColumnRule("balance", "decimal"),)
_RUPEES = "::numeric(20, 2)::text"


def legacy_daily_sql(outbound: Sequence[int] = OUTBOUND_CODES) -> str:
    """wallet_id, currency, day, net, closing, changed_at: one row per legacy wallet-day."""
    codes = ", ".join(str(int(c)) for c in outbound)
    return f"""
SELECT t.wallet_id, w.currency::text, to_char((t.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'),
       (sum(CASE WHEN t.txn_type IN ({codes}) THEN -t.amount ELSE t.amount END) / 100.0){_RUPEES},
       ((array_agg(t.balance_after ORDER BY t.created_at DESC, t.id DESC))[1] / 100.0){_RUPEES},
       max(t.created_at)
FROM wallets_transaction t JOIN wallets_wallet w ON w.id = t.wallet_id
WHERE t.status = {POSTED}
GROUP BY 1, 2, 3
"""


EXTRACTED_DAILY_SQL = f"""
SELECT wallet_id, currency, day, net{_RUPEES},
       (sum(net) OVER (PARTITION BY wallet_id, currency ORDER BY day)){_RUPEES}, changed_at
FROM (SELECT substr(e.account, 8)::bigint AS wallet_id, e.currency::text AS currency,
             to_char((x.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day,
             sum(e.amount) AS net, max(x.created_at) AS changed_at
      FROM ledger_entry e JOIN ledger_transaction x ON x.id = e.transaction_id
      WHERE e.leg = 'wallet' AND left(e.account, 7) = 'wallet:' AND x.status = 'posted'
      GROUP BY 1, 2, 3) AS d
"""

LEGACY_WALLET_SQL = f"""
SELECT w.id, w.currency::text, (w.balance / 100.0){_RUPEES}, w.updated_at
FROM wallets_wallet w
WHERE w.balance <> 0 OR EXISTS (SELECT 1 FROM wallets_transaction t WHERE t.wallet_id = w.id)
"""

EXTRACTED_WALLET_SQL = f"""
SELECT substr(e.account, 8)::bigint, e.currency::text, sum(e.amount){_RUPEES}, max(x.created_at)
FROM ledger_entry e JOIN ledger_transaction x ON x.id = e.transaction_id
WHERE e.leg = 'wallet' AND left(e.account, 7) = 'wallet:' AND x.status = 'posted'
GROUP BY 1, 2
"""

# Every transaction's legs: at least two, one currency, summing to exactly zero.
UNBALANCED_SQL = """
SELECT transaction_id, count(*), sum(amount)::text, count(DISTINCT currency),
       string_agg(DISTINCT currency::text, ',')
FROM ledger_entry GROUP BY transaction_id
HAVING sum(amount) <> 0 OR count(*) < 2 OR count(DISTINCT currency) > 1
ORDER BY transaction_id
"""
ENTRY_TOTALS_SQL = "SELECT count(*), count(DISTINCT transaction_id) FROM ledger_entry"


def in_key_order(query: str, key_width: int, width: int) -> str:
    """``query`` ordered by its first ``key_width`` columns, text under ``COLLATE "C"``.

    Byte order is the order Python compares the merged keys in; a wallet id is an integer,
    the other key columns (currency, day) text.
    """
    names = [f"c{i}" for i in range(width)]
    order = ["q.c0"] + [f'q.c{i} COLLATE "C"' for i in range(1, key_width)]
    return (f"SELECT * FROM ({query}) AS q({', '.join(names)}) "
            f"ORDER BY {', '.join(order)}")


def to_rows(records: Iterable[Sequence[Any]], key_width: int) -> list[Row]:
    """Query records (key columns, value columns, changed_at) as canonical rows."""
    return [Row(tuple(r[:key_width]), tuple(r[key_width:-1]), r[-1]) for r in records]


def compare_balances(legacy: Sequence[Row], extracted: Sequence[Row],
                     cutoff: datetime | None, per_day: bool = True) -> list[Discrepancy]:
    """Mismatched or one-sided wallet-days (or wallets); those touched after ``cutoff`` pending."""
    return compare_rows(legacy, extracted, _RULES if per_day else _WALLET_RULES, cutoff)


def unbalanced(records: Iterable[Sequence[Any]]) -> list[Discrepancy]:
    """Discrepancies for transactions whose entries break the double-entry invariant."""
    found = []
    for txn, legs, total, currencies, names in records:
        columns = [ColumnDiff("sum", "0", str(total), str(total))] if Decimal(total) else []
        if currencies > 1:
            columns.append(ColumnDiff("currency", "one currency", str(names), None))
        if legs < 2:
            columns.append(ColumnDiff("legs", "2", str(legs), str(legs - 2)))
        found.append(Discrepancy(UNBALANCED, (txn,), False, tuple(columns), 0, int(legs)))
    return found


def checksum(rows: Iterable[Row]) -> str:
    """16 hex digits over the sorted canonical rows: equal data, equal checksum."""
    tally = Tally()
    for row in sorted(rows, key=lambda r: r.key):
        tally.add(row)
    return tally.checksum


class Tally:
    """Row count and running checksum of one side's ordered stream."""

    def __init__(self) -> None:
        self.rows = 0
        self._digest = hashlib.sha256()

    def add(self, row: Row) -> Row:
        self.rows += 1
        self._digest.update(repr((row.key, row.values)).encode())
        return row

    @property
    def checksum(self) -> str:
        return self._digest.hexdigest()[:16]


class OrderError(ValueError):
    """A side's stream is not in key order: a merge over it would report false breaks."""


def _ordered(rows: Iterable[Row], side: str) -> Iterator[Row]:
    previous: Row | None = None
    for row in rows:
        if previous is not None and row.key < previous.key:
            raise OrderError(f"the {side} rows are not in key order ({previous.key!r} then "
                             f"{row.key!r}); the query must ORDER BY its key COLLATE \"C\"")
        previous = row
        yield row


def merge_compare(legacy: Iterable[Row], extracted: Iterable[Row], rules: Sequence[ColumnRule],
                  cutoff: datetime | None) -> Iterator[Discrepancy]:
    """Compare two key-ordered streams one key at a time (a merge join), lazily.

    Holds only the rows of the current key, so memory does not grow with the streams.
    Raises :class:`OrderError` if either stream goes backwards.
    """
    sides = (_ordered(legacy, "legacy"), _ordered(extracted, "extracted"))
    heads: list[Row | None] = [next(s, None) for s in sides]
    while heads[0] is not None or heads[1] is not None:
        key = min(h.key for h in heads if h is not None)
        groups: tuple[list[Row], list[Row]] = ([], [])
        for i, stream in enumerate(sides):
            while (head := heads[i]) is not None and head.key == key:
                groups[i].append(head)
                heads[i] = next(stream, None)
        found = compare_key(key, groups[0], groups[1], rules, cutoff)
        if found is not None:
            yield found


def _stream(stack: ExitStack, url: str, side: str, query: str, width: int,
            tally: Tally) -> Iterator[Row]:
    """One side's ordered rows through a server-side cursor, counted and checksummed."""
    try:
        conn = stack.enter_context(psycopg.connect(
            url, application_name=f"reconcile-balances-{side}"))
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor = stack.enter_context(conn.cursor(name=f"balances_{side}"))
        cursor.itersize = 5000
        cursor.execute(query.encode())
    except psycopg.Error as exc:
        raise SideUnavailableError(side, str(exc).strip()) from exc

    def rows() -> Iterator[Row]:
        try:
            for record in cursor:
                yield tally.add(Row(tuple(record[:width]), tuple(record[width:-1]), record[-1]))
        except psycopg.Error as exc:
            raise SideUnavailableError(side, str(exc).strip()) from exc
    return rows()


def _fetch(url: str, side: str, query: str) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url, application_name=f"reconcile-balances-{side}") as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return conn.execute(query.encode()).fetchall()
    except psycopg.Error as exc:
        raise SideUnavailableError(side, str(exc).strip()) from exc


def check_balances(legacy_url: str, extracted_url: str, *, capability: str, mapping_source: str,
                   mapping_hash: str, lag_window: timedelta | None = timedelta(minutes=5),
                   clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                   only: Sequence[str] = CHECKS) -> list[RunResult]:
    """Run the balance checks named in ``only``; an unreadable or empty side is ``incomplete``."""
    results = []
    for check in only:
        result = RunResult(capability, check, mapping_source, mapping_hash, clock())
        try:
            _run_check(result, legacy_url, extracted_url, clock() - lag_window if lag_window else None)
        except SideUnavailableError as exc:
            result.incomplete_reasons.append(str(exc))
            getattr(result, exc.side).error = exc.reason
        result.finished_at = clock()
        results.append(result)
    return results


def _run_check(result: RunResult, legacy_url: str, extracted_url: str,
               cutoff: datetime | None) -> None:
    if result.comparison == DOUBLE_ENTRY:
        entries, transactions = _fetch(extracted_url, "extracted", ENTRY_TOTALS_SQL)[0]
        result.extracted = SideSummary(int(transactions), f"{int(entries):016x}")
        if not entries:
            result.incomplete_reasons.append("the extracted side has no ledger entries")
            return
        result.discrepancies = unbalanced(_fetch(extracted_url, "extracted", UNBALANCED_SQL))
        return
    per_day = result.comparison == BALANCES
    queries = (legacy_daily_sql(), EXTRACTED_DAILY_SQL) if per_day else (
        LEGACY_WALLET_SQL, EXTRACTED_WALLET_SQL)
    width = 3 if per_day else 2
    ordered = [in_key_order(q, width, width + (3 if per_day else 2)) for q in queries]
    tallies = (Tally(), Tally())
    with ExitStack() as stack:
        streams = [_stream(stack, url, side, query, width, tally) for url, side, query, tally
                   in zip((legacy_url, extracted_url), ("legacy", "extracted"), ordered, tallies,
                          strict=True)]
        legacy_first, extracted_first = (next(stream, None) for stream in streams)
        found: list[Discrepancy] = []
        if legacy_first is None or extracted_first is None:
            for stream in streams:  # count the other side, but list none of its rows as breaks
                deque(stream, maxlen=0)
        else:
            found = list(merge_compare(
                chain([legacy_first], streams[0]), chain([extracted_first], streams[1]),
                _RULES if per_day else _WALLET_RULES, cutoff))
    result.legacy = SideSummary(tallies[0].rows, tallies[0].checksum)
    result.extracted = SideSummary(tallies[1].rows, tallies[1].checksum)
    for side, tally in zip(("legacy", "extracted"), tallies, strict=True):
        if not tally.rows:
            result.incomplete_reasons.append(f"the {side} side has no rows")
    if result.incomplete_reasons:
        return  # every wallet would differ: a failed load, not a list of discrepancies
    result.discrepancies = found
