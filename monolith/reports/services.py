"""Daily report: credits, debits and counts per IST day, aggregated in SQL on the OLTP database.

Legacy on purpose: reporting reads the live transactional tables. :func:`parse_range`
is pure; :func:`daily_totals` is the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connection

from monolith.wallets.models import INBOUND_TYPES

MAX_DAYS = 366


class ReportRangeError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _parse_day(field: str, value: str | None) -> date:
    if not value:
        raise ReportRangeError(field, "Required, as YYYY-MM-DD.")
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ReportRangeError(field, f"{value[:20]!r} is not a date as YYYY-MM-DD.") from exc


def parse_range(from_value: str | None, to_value: str | None) -> tuple[date, date]:
    """The inclusive (from, to) range of a report, at most 366 days long."""
    start, end = _parse_day("from", from_value), _parse_day("to", to_value)
    if end < start:
        raise ReportRangeError("to", "Must be on or after 'from'.")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportRangeError("to", f"The range may cover at most {MAX_DAYS} days.")
    return start, end


@dataclass(frozen=True)
class DayTotals:
    day: date
    credits: int
    debits: int
    count: int


_DAILY_SQL = """
WITH days AS (
    SELECT d::date AS day FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') d
), totals AS (
    SELECT (t.created_at AT TIME ZONE %(tz)s)::date AS day,
           SUM(CASE WHEN t.txn_type = ANY(%(inbound)s) THEN t.amount ELSE 0 END) AS credits,
           SUM(CASE WHEN t.txn_type = ANY(%(inbound)s) THEN 0 ELSE t.amount END) AS debits,
           COUNT(*) AS n
    FROM wallets_transaction t
    JOIN wallets_wallet w ON w.id = t.wallet_id
    WHERE w.merchant_id = %(merchant)s
      AND t.created_at >= (%(start)s::date)::timestamp AT TIME ZONE %(tz)s
      AND t.created_at < (%(end)s::date + 1)::timestamp AT TIME ZONE %(tz)s
    GROUP BY 1
)
SELECT days.day, COALESCE(totals.credits, 0), COALESCE(totals.debits, 0), COALESCE(totals.n, 0)
FROM days LEFT JOIN totals USING (day)
ORDER BY days.day
"""


def daily_totals(merchant_id: int, start: date, end: date) -> list[DayTotals]:
    params: dict[str, Any] = {
        "start": start, "end": end, "tz": settings.TIME_ZONE, "merchant": merchant_id,
        "inbound": sorted(INBOUND_TYPES),
    }
    with connection.cursor() as cursor:
        cursor.execute(_DAILY_SQL, params)
        return [DayTotals(day, int(c), int(d), int(n)) for day, c, d, n in cursor.fetchall()]
