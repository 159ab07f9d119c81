"""The outbox in the monolith's PostgreSQL: claim lanes with FOR UPDATE SKIP LOCKED, read in commit order.

Claiming locks *lanes* (``strangler_acl.relay_lane``), not single rows: two relays
that each skipped locked rows could split one aggregate's events between them
and publish them out of order. A lane is held by one relay for one batch; the
lock is the open transaction, so a relay killed mid-batch loses it at once and
its rows (never marked handled) are claimed again by the next relay.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from acl.domain import Change
from acl.install import NOTIFY_CHANNEL, SCHEMA
from acl.ports import Batch, OutboxStore, PendingChange, QuarantineEntry

_CLAIM_LANES = f"""
SELECT l.lane FROM {SCHEMA}.relay_lane l
 WHERE EXISTS (SELECT 1 FROM {SCHEMA}.outbox o WHERE o.lane = l.lane AND o.handled_at IS NULL)
 ORDER BY random() LIMIT %s FOR UPDATE SKIP LOCKED
"""
_READ = f"""
SELECT o.id, t.commit_seq, t.committed_at, o.aggregate_type || ':' || coalesce(o.aggregate_key, ''),
       o.table_name, o.op, o.before, o.after, o.context, o.correlation_id, o.traceparent, o.captured_at
  FROM {SCHEMA}.outbox o JOIN {SCHEMA}.tx_commit t ON t.txid = o.txid
 WHERE o.handled_at IS NULL AND o.lane = ANY(%s)
 ORDER BY t.commit_seq, o.id LIMIT %s
"""


def origin_of(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(f"SELECT id FROM {SCHEMA}.origin").fetchone()
    return str(row[0]) if row else ""


def _pending(origin: str, row: tuple[Any, ...]) -> PendingChange:
    oid, seq, committed, aggregate, table, op, before, after, context, cid, trace, captured = row
    change = Change(f"{origin}/outbox:{oid}", table, op, before, after, captured, cid, trace, context or {})
    return PendingChange(oid, seq, committed, aggregate, change)


_MARK_PUBLISHED = (
    f"UPDATE {SCHEMA}.outbox SET handled_at = clock_timestamp(), outcome = 'published' WHERE id = ANY(%s)"
)


class _PgBatch(Batch):
    def __init__(self, conn: psycopg.Connection[Any], changes: list[PendingChange]) -> None:
        self.conn = conn
        self.changes = changes
        self._marked: set[int] = set()

    def mark_early(self, published: Sequence[int]) -> None:
        """UPDATE inside the claim's transaction (the server works while the relay renders the next
        chunk); committed by ``complete``, rolled back with the claim otherwise."""
        if published:
            self.conn.execute(_MARK_PUBLISHED, (list(published),))
            self._marked.update(published)

    def complete(self, published: Sequence[int], quarantined: Sequence[QuarantineEntry]) -> None:
        rest = [i for i in published if i not in self._marked]
        with self.conn.cursor() as cur:
            if rest:
                cur.execute(_MARK_PUBLISHED, (rest,))
            if quarantined:
                cur.executemany(
                    f"INSERT INTO {SCHEMA}.quarantine (outbox_id, source_id, table_name, op, before, after,"
                    " event_type, payload, reason, correlation_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [
                        (
                            q.outbox_id,
                            q.change.source_id,
                            q.change.table,
                            q.change.op,
                            Jsonb(q.change.before) if q.change.before is not None else None,
                            Jsonb(q.change.after) if q.change.after is not None else None,
                            q.event_type,
                            Jsonb(q.payload) if q.payload is not None else None,
                            q.reason,
                            q.change.correlation_id,
                        )
                        for q in quarantined
                    ],
                )
                ids = [q.outbox_id for q in quarantined if q.outbox_id is not None]
                cur.execute(
                    f"UPDATE {SCHEMA}.outbox SET handled_at = clock_timestamp(), outcome = 'quarantined'"
                    " WHERE id = ANY(%s)",
                    (ids,),
                )
        self.conn.commit()


class PgOutboxStore(OutboxStore):
    """Connections are opened on first use, never at construction or import."""

    def __init__(self, database_url: str, lanes_per_claim: int = 64) -> None:
        self.database_url = database_url
        self.lanes_per_claim = lanes_per_claim
        self._conn: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._origin = ""

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url)
            self._origin = origin_of(self._conn)
            self._conn.commit()
        return self._conn

    @contextmanager
    def claim(self, max_changes: int) -> Iterator[Batch]:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                lanes = [r[0] for r in cur.execute(_CLAIM_LANES, (self.lanes_per_claim,)).fetchall()]
                rows = cur.execute(_READ, (lanes, max_changes)).fetchall() if lanes else []
            yield _PgBatch(conn, [_pending(self._origin, r) for r in rows])
        finally:
            if not conn.closed:
                conn.rollback()  # no-op after complete(); gives lanes back otherwise

    def wait_for_changes(self, timeout: float) -> bool:
        if self._listener is None or self._listener.closed:
            self._listener = psycopg.connect(self.database_url, autocommit=True)
            self._listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return any(True for _ in self._listener.notifies(timeout=timeout, stop_after=1))

    def pending_count(self) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE handled_at IS NULL").fetchone()
        return int(row[0]) if row else 0

    def quarantined(self) -> list[QuarantineEntry]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                f"SELECT outbox_id, source_id, table_name, op, before, after, event_type, payload,"
                f" reason, correlation_id, quarantined_at FROM {SCHEMA}.quarantine ORDER BY id"
            ).fetchall()
        return [
            QuarantineEntry(Change(r[1], r[2], r[3], r[4], r[5], r[10], r[9]), r[0], r[8], r[6], r[7])
            for r in rows
        ]

    def close(self) -> None:
        for conn in (self._conn, self._listener):
            if conn is not None and not conn.closed:
                conn.close()
