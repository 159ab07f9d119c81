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

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

# write_store.WRITE_ID_BASE (not imported: this module runs in the control plane, without the
# ledger's Django apps)
WRITE_ID_BASE = 10**15

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


# -- 3. The hold (the write cutover's hand-over, ``ledger_write_gate``) --------------------------
#
# The hole it closes: a monolith posting committed just before the flip but not yet projected
# would be lost from the ledger's balance once the write path posts to the same wallet, because
# the projector lets only a wallet's highest posting id set its balance, and the write path's
# ids start at 10^15. So the write path holds writes (``write_store.pass_gate``) until every
# monolith posting up to the flip is in the ledger: ``hold_writes``, flip, ``outbox_mark``,
# ``monolith_drained`` true, ``release_writes``. The rollback holds them while the legacy tables
# catch up with the ledger (``unsynced_postings`` zero), then ``close_writes`` after the flip back.

_SET_GATE = ("UPDATE ledger_write_gate SET state = %s, reason = %s,"
             " hold_wait_ms = coalesce(%s, hold_wait_ms), changed_at = clock_timestamp()"
             " WHERE id = 1 RETURNING state")


def _set_gate(ledger_url: str, state: str, reason: str, wait_ms: int | None = None) -> str:
    # the UPDATE waits for every write transaction that passed the gate (FOR SHARE) to commit
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        row = conn.execute(_SET_GATE, (state, reason, wait_ms)).fetchone()
    if row is None:
        raise RuntimeError("the ledger database has no write gate (ledger_write_gate); run its "
                           "migrations (`python -m extracted.ledger_query.manage migrate`)")
    return str(row[0])


def hold_writes(ledger_url: str, reason: str, *, wait_ms: int = 5000) -> str:
    """Hold the write path's writes (each waits up to ``wait_ms``, then 503). Returns once no
    write that passed the gate is still running."""
    return _set_gate(ledger_url, "held", reason, wait_ms)


def release_writes(ledger_url: str) -> str:
    return _set_gate(ledger_url, "open", "")


def close_writes(ledger_url: str, reason: str) -> str:
    """The monolith is the writer: every write reaching the write path is a 503 at once."""
    return _set_gate(ledger_url, "closed", reason)


def gate_state(ledger_url: str) -> tuple[str, str]:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        row = conn.execute("SELECT state, reason FROM ledger_write_gate WHERE id = 1").fetchone()
    return (str(row[0]), str(row[1])) if row else ("open", "")


def outbox_mark(monolith_url: str) -> int:
    """The monolith's outbox high-water mark: the newest commit the capture recorded."""
    with psycopg.connect(monolith_url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(commit_seq), 0) FROM strangler_acl.tx_commit").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Drain:
    done: bool
    detail: str


def monolith_drained(monolith_url: str, ledger_url: str, mark: int, *,
                     since: timedelta = timedelta(minutes=10)) -> Drain:
    """Is every monolith posting up to ``mark`` in the ledger?

    Two facts, both needed: the relay published every outbox row committed at or below the
    mark, and the ledger consumer polled and found nothing after the last of them was
    published (``ledger_sync_state.caught_up_at``, as the backfill's hand-over reads it); then,
    checked directly, every posting the monolith itself issued (ids below 10^15) in the last
    ``since`` is a ledger transaction.
    """
    with psycopg.connect(monolith_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE o.handled_at IS NULL), max(o.handled_at)"
            " FROM strangler_acl.outbox o JOIN strangler_acl.tx_commit c ON c.txid = o.txid"
            " WHERE c.commit_seq <= %s", (mark,)).fetchone()
        ids = [int(r[0]) for r in conn.execute(
            "SELECT id FROM wallets_transaction WHERE id < %s AND created_at >= now() - %s",
            (WRITE_ID_BASE, since)).fetchall()]
    pending, published = (int(row[0]), row[1]) if row else (0, None)
    if pending:
        return Drain(False, f"{pending} outbox rows at or below the mark {mark} are not published yet "
                            "(is the relay running?)")
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        state = conn.execute("SELECT caught_up_at FROM ledger_sync_state WHERE id = 1").fetchone()
        present = conn.execute("SELECT count(*) FROM ledger_transaction WHERE id = ANY(%s)",
                               (ids,)).fetchone()
    caught_up = state[0] if state else None
    if published is not None and (caught_up is None or caught_up < published):
        return Drain(False, f"the ledger consumer has not caught up with the mark {mark} yet (is it "
                            "running?)")
    missing = len(ids) - (int(present[0]) if present else 0)
    if missing:
        return Drain(False, f"{missing} of the monolith's recent postings are not in the ledger yet")
    return Drain(True, f"every monolith posting up to commit_seq {mark} is in the ledger "
                       f"({len(ids)} in the last {since})")


def unsynced_postings(ledger_url: str) -> int:
    """The ledger's own postings the legacy tables have not mirrored yet (``ledger_sync``)."""
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_write_event WHERE synced_at IS NULL").fetchone()
    return int(row[0]) if row else 0
