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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from reconcile.compare import UNBALANCED, ColumnDiff, ColumnRule, Discrepancy, Row, compare_rows
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
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: tuple(map(str, r.key))):
        digest.update(repr((row.key, row.values)).encode())
    return digest.hexdigest()[:16]


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
    legacy = to_rows(_fetch(legacy_url, "legacy", queries[0]), width)
    extracted = to_rows(_fetch(extracted_url, "extracted", queries[1]), width)
    result.legacy = SideSummary(len(legacy), checksum(legacy))
    result.extracted = SideSummary(len(extracted), checksum(extracted))
    for side, rows in (("legacy", legacy), ("extracted", extracted)):
        if not rows:
            result.incomplete_reasons.append(f"the {side} side has no rows")
    if result.incomplete_reasons:
        return  # every wallet would differ: a failed load, not a list of discrepancies
    result.discrepancies = compare_balances(legacy, extracted, cutoff, per_day)
