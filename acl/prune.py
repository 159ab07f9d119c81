"""Outbox retention: delete handled outbox rows, and the commit stamps they no longer need, past a window.

Behind ``strangler acl prune --older-than 7d``. Run it on a schedule (hourly is plenty;
see ``strangler acl prune --help``); the window only has to cover how far back an operator
may want ``strangler events replay``, the one reader of handled rows.

What is never deleted
- a row not yet handled (``handled_at IS NULL``): the relay has not published it;
- a row handled within the window (``handled_at >= now() - window``);
- a quarantined row whose quarantine entry is unresolved: it is the evidence an operator
  fixes and replays from;
- a ``tx_commit`` row while any outbox row of its transaction remains: the relay reads
  pending rows through it (``JOIN tx_commit``), so a missing stamp would hide them forever.

Why it is safe next to running relays
- The relay only ever updates rows it reads as unhandled, under its lane lock; prune only
  deletes rows that were committed as handled, so the two never touch the same row and
  neither waits for the other.
- A commit stamp and its transaction's outbox rows become visible in one commit, so a
  stamp visible to prune with no outbox row left was emptied by prune itself. The stamp
  check runs after the batch's DELETE, in the same transaction, so it sees that DELETE.
- One prune at a time (a session advisory lock): two prunes deleting the rows of one
  transaction concurrently could each still see the other's rows and leave its stamp behind.
- The Debezium relay reads inserts from the WAL and skips deletes (``skipped.operations``).

Batches are keyset scans on the primary key (no extra index to maintain on the write
path); each batch is its own short transaction, so locks and WAL stay small and a
cancelled prune keeps what it did. The scan stops at the first batch holding a row
captured inside the window: everything after it is newer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from acl.errors import AclError
from acl.install import SCHEMA

_LOCK = "SELECT pg_try_advisory_lock(hashtext('strangler_acl.prune'))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('strangler_acl.prune'))"
_CANDIDATES = f"""
WITH scanned AS (
    SELECT id, txid, handled_at, outcome, captured_at FROM {SCHEMA}.outbox
     WHERE id > %(after)s ORDER BY id LIMIT %(limit)s
), prunable AS (
    SELECT s.id, s.txid FROM scanned s
     WHERE s.handled_at < %(cutoff)s
       AND NOT (s.outcome = 'quarantined' AND EXISTS (
           SELECT 1 FROM {SCHEMA}.quarantine q WHERE q.outbox_id = s.id AND q.resolved_at IS NULL))
)"""
_STATS = """
SELECT (SELECT max(id) FROM scanned),
       coalesce((SELECT bool_or(captured_at >= %(cutoff)s) FROM scanned), false),
       (SELECT count(*) FROM scanned WHERE handled_at < %(cutoff)s) - (SELECT count(*) FROM prunable),
       {rows}, {txids}"""
_DELETE_BATCH = (
    _CANDIDATES
    + f", gone AS (DELETE FROM {SCHEMA}.outbox o USING prunable p WHERE o.id = p.id RETURNING o.txid)"
    + _STATS.format(rows="(SELECT count(*) FROM gone)",
                    txids="(SELECT array_agg(DISTINCT txid::text) FROM gone)")
)
_COUNT_BATCH = _CANDIDATES + _STATS.format(
    rows="(SELECT count(*) FROM prunable)",
    # a dry run counts stamps whose rows are all prunable within this batch (a lower bound)
    txids=f"""(SELECT array_agg(p.txid::text) FROM (SELECT txid, count(*) AS n FROM prunable GROUP BY txid) p
               WHERE p.n = (SELECT count(*) FROM {SCHEMA}.outbox o WHERE o.txid = p.txid))""",
)
_DELETE_STAMPS = f"""
DELETE FROM {SCHEMA}.tx_commit t WHERE t.txid = ANY(%s::text[]::xid8[])
   AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.outbox o WHERE o.txid = t.txid)
"""
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class PruneBusy(AclError):
    """Another prune holds the lock; this one changed nothing."""


@dataclass(frozen=True)
class PruneResult:
    outbox_rows: int  # deleted (or, in a dry run, that would be)
    commit_stamps: int  # tx_commit rows deleted (a dry run: at least this many)
    kept_quarantined: int  # past the window but kept: their quarantine entry is unresolved
    cutoff: datetime
    dry_run: bool


def parse_window(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` -> a timedelta; zero is allowed (prune all handled rows)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write a whole number and a unit, e.g. 7d, 12h, 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def prune(
    database_url: str,
    older_than: timedelta,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Callable[[PruneResult], None] | None = None,
) -> PruneResult:
    """Delete (or count, with ``dry_run``) what the module docstring says may go; batch by batch."""
    if batch_size < 1 or older_than < timedelta(0):
        raise ValueError("batch_size must be positive and older_than not negative")
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not _row(conn.execute(_LOCK))[0]:
            raise PruneBusy("another `strangler acl prune` is running on this database; nothing was deleted")
        try:
            if _row(conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.tx_commit",)))[0] is None:
                raise AclError("change capture is not installed in this database (no strangler_acl "
                               "schema): nothing to prune. `strangler acl install` installs it.")
            cutoff: datetime = _row(conn.execute("SELECT now() - %s::interval", (older_than,)))[0]
            return _scan(conn, cutoff, batch_size, dry_run, progress)
        finally:
            conn.execute(_UNLOCK)


def _scan(
    conn: psycopg.Connection[Any],
    cutoff: datetime,
    batch_size: int,
    dry_run: bool,
    progress: Callable[[PruneResult], None] | None,
) -> PruneResult:
    after, rows, stamps, kept = 0, 0, 0, 0
    while True:
        with conn.transaction():
            last, reached_window, kept_now, deleted, txids = _row(conn.execute(
                _COUNT_BATCH if dry_run else _DELETE_BATCH,
                {"after": after, "limit": batch_size, "cutoff": cutoff},
            ))
            freed = len(txids or []) if dry_run else _delete_stamps(conn, txids or [])
        rows, stamps, kept = rows + deleted, stamps + freed, kept + kept_now
        result = PruneResult(rows, stamps, kept, cutoff, dry_run)
        if progress is not None:
            progress(result)
        if last is None or reached_window:
            return result
        after = last


def _delete_stamps(conn: psycopg.Connection[Any], txids: list[str]) -> int:
    """Inside the batch's transaction, after its DELETE: stamps of transactions with no row left."""
    return conn.execute(_DELETE_STAMPS, (txids,)).rowcount if txids else 0


def _row(cur: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None  # every statement here returns exactly one row
    return tuple(row)
