"""Make the generated ledger pair balance-consistent: days apart, legacy running balances kept."""

from __future__ import annotations

from tests.reconcile import ledger_fixture
from tests.reconcile.conftest import LedgerPair


def make_consistent(pair: LedgerPair) -> None:
    """Spread the fixture over days and give legacy its running balances, as the monolith keeps them."""
    for url, table in ((pair.legacy, "wallets_transaction"), (pair.extracted, "ledger_transaction")):
        ledger_fixture.execute(url, f"UPDATE {table} SET created_at = "
                                    "timestamptz '2025-01-01 00:00:00+00' + id * interval '1 hour'")
    ledger_fixture.execute(pair.legacy, """
        UPDATE wallets_transaction t SET balance_after = s.running
        FROM (SELECT id, sum(CASE WHEN txn_type IN (2, 4, 5) THEN -amount ELSE amount END)
                     OVER (PARTITION BY wallet_id ORDER BY created_at, id) AS running
              FROM wallets_transaction) AS s WHERE s.id = t.id""")
    ledger_fixture.execute(pair.legacy, """
        UPDATE wallets_wallet w SET balance = coalesce((SELECT balance_after
            FROM wallets_transaction t WHERE t.wallet_id = w.id
            ORDER BY created_at DESC, id DESC LIMIT 1), 0)""")
