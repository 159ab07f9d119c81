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
from typing import Any, overload

import psycopg
from psycopg.types.json import Jsonb

from acl.adapters.pg import connect
from acl.domain import Change
from acl.install import NOTIFY_CHANNEL, SCHEMA
from acl.ports import Batch, OutboxStore, PendingChange, QuarantineEntry

# One probe per lane for its first pending row (LIMIT 1 on the pending-row index): the cost
# follows the number of lanes, not the number of rows waiting in them.
_CLAIM_LANES = f"""
SELECT l.lane FROM {SCHEMA}.relay_lane l
 CROSS JOIN LATERAL (SELECT 1 FROM {SCHEMA}.outbox o
                      WHERE o.lane = l.lane AND o.handled_at IS NULL LIMIT 1) pending
 ORDER BY random() LIMIT %s FOR UPDATE OF l SKIP LOCKED
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


class _Claimed(Sequence[PendingChange]):
    """The claimed rows, turned into changes (their JSON row images decoded) only as the relay
    reaches them: the first chunk is rendered and on its way to Kafka while the rest still waits
    as the server sent it, instead of after every row of the batch was decoded."""

    def __init__(self, cursor: psycopg.Cursor[Any], origin: str) -> None:
        self._cursor, self._origin = cursor, origin
        self._length = max(0, cursor.rowcount)
        self._decoded: list[PendingChange] = []

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> PendingChange: ...

    @overload
    def __getitem__(self, index: slice) -> list[PendingChange]: ...

    def __getitem__(self, index: int | slice) -> PendingChange | list[PendingChange]:
        if isinstance(index, slice):
            self._decode_to(index.indices(self._length)[1])
            return self._decoded[index]
        position = index + self._length if index < 0 else index
        self._decode_to(position + 1)
        return self._decoded[position]

    def _decode_to(self, stop: int) -> None:
        missing = min(stop, self._length) - len(self._decoded)
        if missing > 0:
            self._decoded += [_pending(self._origin, row) for row in self._cursor.fetchmany(missing)]


_MARK_PUBLISHED = (
    f"UPDATE {SCHEMA}.outbox SET handled_at = clock_timestamp(), outcome = 'published' WHERE id = ANY(%s)"
)


class _PgBatch(Batch):
    def __init__(self, conn: psycopg.Connection[Any], changes: Sequence[PendingChange]) -> None:
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
        """The remaining marks, the quarantine rows and COMMIT in one round trip (pipelined)."""
        rest = [i for i in published if i not in self._marked]
        with self.conn.pipeline(), self.conn.cursor() as cur:
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
            cur.execute("COMMIT")  # queued with the rest; an error in any of them raises on leaving


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
            # autocommit: the claim's transaction is opened and closed by explicit statements,
            # so BEGIN travels with the first query and COMMIT with the last writes (psycopg's
            # implicit BEGIN would cost a round trip of its own)
            self._conn = connect(self.database_url, "strangler-relay", autocommit=True)
            # Plain index scans, never bitmap scans, on the pending-row index: marking a row
            # handled leaves its entry in the partial index until VACUUM. A bitmap scan reads
            # every such entry again, and its heap row, on every claim (after a burst, tens of
            # thousands per claim); an index scan marks them dead the first time it meets them
            # and skips them after that, so a claim costs what is new, not what was handled.
            self._conn.execute("SET enable_bitmapscan = off")
            self._origin = origin_of(self._conn)
        return self._conn

    @contextmanager
    def claim(self, max_changes: int) -> Iterator[Batch]:
        conn = self._connection()
        try:
            # Two round trips: BEGIN with the lane claim, then the rows. The rows are read by a
            # statement that starts once the lanes are locked, so its snapshot sees every mark
            # of the relay that held one of them before; a single statement would take its
            # snapshot before locking, and a lane released in between would be read as it was
            # before that relay's commit, its rows published again.
            with conn.cursor() as claimed:
                with conn.pipeline():
                    claimed.execute("BEGIN")
                    claimed.execute(_CLAIM_LANES, (self.lanes_per_claim,))
                lanes = [r[0] for r in claimed.fetchall()]
            with conn.cursor() as read:
                if lanes:
                    read.execute(_READ, (lanes, max_changes))
                    yield _PgBatch(conn, _Claimed(read, self._origin))
                else:
                    yield _PgBatch(conn, [])
        finally:
            if not conn.closed:
                conn.rollback()  # no-op after complete(); gives lanes back otherwise

    def wait_for_changes(self, timeout: float) -> bool:
        if self._listener is None or self._listener.closed:
            self._listener = connect(self.database_url, "strangler-relay-listen", autocommit=True)
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
