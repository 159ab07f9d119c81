"""Legacy history for the backfill tests: wallets and a ledger written in bulk SQL, plus reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.acl.helpers import open_wallet, seed_customer

SHIPPED_MAPPING = Path(__file__).resolve().parents[2] / "reconcile" / "mappings" / "ledger.toml"


def ledger_service_mapping(folder: Path) -> Path:
    """The shipped mapping: it fits the ledger service's real schema as it stands."""
    return SHIPPED_MAPPING


def seed_history(url: str, wallets: int = 3, per_wallet: int = 1000) -> list[int]:
    """``wallets`` wallets with ``per_wallet`` ledger rows each (credits, every 4th a debit),
    ids interleaved across wallets, running balances consistent; returns the wallet ids."""
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [open_wallet(conn, *seed_customer(conn, f"C{i}")) for i in range(wallets)]
        conn.execute(
            "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status,"
            " reference, description, created_at)"
            " SELECT w, k, a, sum(CASE k WHEN 1 THEN a ELSE -a END) OVER (PARTITION BY w ORDER BY g),"
            "        1, 'seed-' || w || '-' || g, '', timestamptz '2026-01-01Z' + g * interval '1 s'"
            "   FROM (SELECT w, g, CASE WHEN g %% 4 = 0 THEN 2 ELSE 1 END AS k,"
            "                CASE WHEN g %% 4 = 0 THEN 30 ELSE 100 END AS a"
            "           FROM unnest(%s::bigint[]) w, generate_series(1, %s) g) s"
            "  ORDER BY g, w", (ids, per_wallet))
        conn.execute(
            "UPDATE wallets_wallet w SET balance = t.balance_after FROM (SELECT DISTINCT ON"
            " (wallet_id) wallet_id, balance_after FROM wallets_transaction ORDER BY wallet_id, id DESC)"
            " t WHERE t.wallet_id = w.id")
    return ids


def one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row for {query}"
    return row[0]


def ledger_fingerprint(url: str) -> str:
    """An md5 over every ledger row the backfill writes: equal fingerprints, equal contents."""
    return str(one(url, """
        SELECT md5(coalesce((SELECT string_agg(concat_ws('|', id, wallet_id, kind, amount, currency,
                   reference, balance_after, created_at), ',' ORDER BY id) FROM ledger_transaction), '')
               || coalesce((SELECT string_agg(concat_ws('|', transaction_id, leg, account, amount),
                   ',' ORDER BY transaction_id, leg) FROM ledger_entry), '')
               || coalesce((SELECT string_agg(concat_ws('|', wallet_id, balance, last_transaction_id),
                   ',' ORDER BY wallet_id) FROM ledger_wallet), ''))"""))


def balances(url: str, query: str) -> dict[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {int(w): int(b) for w, b in conn.execute(query).fetchall()}


LEGACY_BALANCES = "SELECT id, balance FROM wallets_wallet"
LEDGER_BALANCES = "SELECT wallet_id, (balance * 100)::bigint FROM ledger_wallet"
