"""The write cutover's hand-over steps between the monolith and the ledger (runbook steps, not requests).

1. Idempotency-Keys (``copy_keys``). A client that sent a write to the monolith and retries
it after the write cutover reaches the ledger with the same key. Unless the ledger knows the
key, it would run the write a second time. Both sides fingerprint a request the same way
(``monolith.common.idempotency.request_fingerprint``) and store the response bytes, so the
monolith's records, copied, answer the retry exactly as the monolith would have: the same
bytes for the same request, 422 for another request under the key.

``copy_keys`` copies the records of the last ``window`` (retries come within minutes; 24 h
by default) from ``wallets_idempotencyrecord`` into ``ledger_idempotency``; a key the ledger
already holds is left alone, so running it again (before the flip, and once more right
after it, for the writes that were in flight) changes nothing it copied before. Direct SQL on
both databases: it is a one-off step of the cutover runbook, not a request path.

2. Posting ids (``hand_ids_to_ledger``, ``hand_ids_to_monolith``). Whoever writes the ledger
must issue ids above every id the other side has issued: the history endpoints order by id,
and the projector lets only a wallet's newest posting (by id) set its balance. The ledger's
ids start at ``write_store.WRITE_ID_BASE`` (10^15), above anything the monolith reached, so the
first cutover needs nothing; a rollback moves the monolith's sequence above the ledger's ids
(after the legacy tables have mirrored every ledger posting), and a cutover after a rollback
moves the ledger's above the monolith's. Both only ever move a sequence forward.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

_READ = """
SELECT merchant_id, key, request_hash, response_status, response_body, created_at
FROM wallets_idempotencyrecord
WHERE response_status IS NOT NULL AND created_at >= now() - %s
ORDER BY id
"""
_WRITE = """
INSERT INTO ledger_idempotency (merchant_id, key, request_hash, response_status, response_body, created_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (merchant_id, key) DO NOTHING
"""


def copy_keys(monolith_url: str, ledger_url: str, *, window: timedelta = timedelta(hours=24)) -> int:
    """Copy the monolith's recent Idempotency-Key records to the ledger; returns how many were new."""
    with psycopg.connect(monolith_url) as source, psycopg.connect(ledger_url) as target:
        rows = source.execute(_READ, (window,)).fetchall()
        copied = 0
        with target.cursor() as cursor:
            for row in rows:
                cursor.execute(_WRITE, row)
                copied += cursor.rowcount
        return copied


_LEGACY_SEQUENCE = "pg_get_serial_sequence('wallets_transaction', 'id')"


def _forward(conn: psycopg.Connection[Any], sequence_sql: str, floor: int) -> int:
    """Make the sequence's next value exceed ``floor`` (never moving it back); returns that value.

    Run while the other side no longer writes (after the flip): a concurrent ``nextval``
    could otherwise take a value between the read and the ``setval``.
    """
    current = conn.execute(f"SELECT nextval({sequence_sql})").fetchone()
    assert current is not None
    target = max(int(current[0]), floor + 1)
    conn.execute(f"SELECT setval({sequence_sql}, %s, false)", (target,))
    return target


def hand_ids_to_monolith(monolith_url: str, ledger_url: str) -> int:
    """Rollback: the monolith's next posting id comes after every posting id the ledger issued."""
    with psycopg.connect(ledger_url) as ledger, psycopg.connect(monolith_url) as monolith:
        row = ledger.execute("SELECT coalesce(max(id), 0) FROM ledger_transaction").fetchone()
        assert row is not None
        return _forward(monolith, _LEGACY_SEQUENCE, int(row[0]))


def hand_ids_to_ledger(monolith_url: str, ledger_url: str) -> int:
    """Cutover (again): the ledger's next posting id comes after every id the monolith issued."""
    with psycopg.connect(monolith_url) as monolith, psycopg.connect(ledger_url) as ledger:
        row = monolith.execute("SELECT coalesce(max(id), 0) FROM wallets_transaction").fetchone()
        assert row is not None
        return _forward(ledger, "'ledger_write_txn_id_seq'", int(row[0]))
