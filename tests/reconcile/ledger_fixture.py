"""Build a legacy ledger and its faithful extracted copy with generate_series (tests, bench).

Both sides are generated from the same formulas, so they agree row for row until a
test plants a discrepancy. Amounts, types and currencies vary with the id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).parent
LEGACY_SCHEMA = (HERE / "legacy_schema.sql").read_text()
EXTRACTED_SCHEMA = (HERE / "extracted_schema.sql").read_text()

_LEGACY_ROWS = """
INSERT INTO wallets_wallet
SELECT g, CASE WHEN g %% 10 = 0 THEN 'USD' ELSE 'INR' END, 0, 1, true,
       timestamptz '2024-01-01', timestamptz '2024-01-01', 1, 1
FROM generate_series(1, %(wallets)s) AS g;
INSERT INTO wallets_transaction
SELECT g, 1 + g %% 6, 100 + (g * 7919) %% 1000000, 0, 1, 'ref-' || g, '',
       timestamptz '2025-01-01' + g * interval '1 second', NULL, 1 + g %% %(wallets)s
FROM generate_series(1::bigint, %(rows)s) AS g;
"""

_KIND = "(ARRAY['credit','debit','transfer_in','transfer_out','payout','payout_reversal'])"
_SIGNED = "CASE WHEN 1 + g %% 6 IN (2, 4, 5) THEN -1 ELSE 1 END * (100 + (g * 7919) %% 1000000)"
_CURRENCY = "CASE WHEN (1 + g %% %(wallets)s) %% 10 = 0 THEN 'USD' ELSE 'INR' END"

_EXTRACTED_ROWS = f"""
INSERT INTO ledger_transaction
SELECT g, 1 + g %% %(wallets)s, {_KIND}[(1 + g %% 6)::int], ({_SIGNED}) / 100.0, {_CURRENCY},
       'posted', 'ref-' || g, timestamptz '2025-01-01' + g * interval '1 second'
FROM generate_series(1::bigint, %(rows)s) AS g;
"""

_EXTRACTED_ENTRIES = f"""
INSERT INTO ledger_entry (transaction_id, leg, account, amount, currency, created_at)
SELECT g, leg, CASE WHEN leg = 'wallet' THEN 'wallet:' || (1 + g %% %(wallets)s)
                    ELSE 'contra:' || {_KIND}[(1 + g %% 6)::int] END,
       sign * ({_SIGNED}) / 100.0, {_CURRENCY}, timestamptz '2025-01-01' + g * interval '1 second'
FROM generate_series(1::bigint, %(rows)s) AS g, (VALUES ('wallet', 1), ('contra', -1)) AS l(leg, sign);
"""


def _run(url: str, statements: str, params: dict[str, Any] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements.split(";"):
            if statement.strip():
                conn.execute(statement.encode(), params)


def build_legacy(url: str, rows: int) -> None:
    _run(url, LEGACY_SCHEMA)
    _run(url, _LEGACY_ROWS, {"rows": rows, "wallets": max(1, rows // 100)})
    _run(url, "VACUUM ANALYZE wallets_wallet; VACUUM ANALYZE wallets_transaction")


def build_extracted(url: str, rows: int, entries: bool = True) -> None:
    _run(url, EXTRACTED_SCHEMA)
    params = {"rows": rows, "wallets": max(1, rows // 100)}
    _run(url, _EXTRACTED_ROWS, params)
    if entries:
        _run(url, _EXTRACTED_ENTRIES, params)
    _run(url, "VACUUM ANALYZE ledger_transaction; VACUUM ANALYZE ledger_entry")


def execute(url: str, statement: str, params: Any = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode(), params)
