"""The inbox in a consumer's own PostgreSQL: one row per applied event, in the effect's transaction,
and one row per event that failed to apply (``failure``), so attempt counts survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from acl.ports import Failure, InboxStore

INBOX_SCHEMA = "strangler_inbox"
_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {INBOX_SCHEMA};
CREATE TABLE IF NOT EXISTS {INBOX_SCHEMA}.inbox (
    consumer   text NOT NULL,
    event_id   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
"""
_FAILURE_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {INBOX_SCHEMA};
CREATE TABLE IF NOT EXISTS {INBOX_SCHEMA}.failure (
    consumer      text    NOT NULL,
    event_id      text    NOT NULL,
    attempts      integer NOT NULL,
    last_error    text    NOT NULL DEFAULT '',
    source        text    NOT NULL,
    dead_lettered boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
"""
_RECORD_ATTEMPT = f"""
INSERT INTO {INBOX_SCHEMA}.failure AS f (consumer, event_id, attempts, last_error, source)
VALUES (%(consumer)s, %(event_id)s, 1, coalesce(%(error)s, ''), %(source)s)
ON CONFLICT (consumer, event_id) DO UPDATE SET
    attempts = CASE WHEN f.dead_lettered AND f.source <> EXCLUDED.source THEN 1 ELSE f.attempts + 1 END,
    last_error = coalesce(%(error)s, f.last_error),
    source = EXCLUDED.source, dead_lettered = false, updated_at = clock_timestamp()
RETURNING attempts
"""
# record_many and the failure lookup in one statement: the batch path pays one round trip
_RECORD_UNLESS_FAILED = f"""
WITH ids AS (SELECT DISTINCT unnest(%(ids)s::text[]) AS event_id),
known AS (
    SELECT f.event_id, f.attempts, f.last_error, f.source, f.dead_lettered
      FROM {INBOX_SCHEMA}.failure f JOIN ids USING (event_id) WHERE f.consumer = %(consumer)s
), fresh AS (
    INSERT INTO {INBOX_SCHEMA}.inbox (consumer, event_id)
    SELECT %(consumer)s, event_id FROM ids WHERE NOT EXISTS (SELECT 1 FROM known)
    ON CONFLICT DO NOTHING RETURNING event_id
)
SELECT event_id, NULL::integer, NULL, NULL, NULL FROM fresh
UNION ALL SELECT * FROM known
"""


def install_inbox(database_url: str) -> None:
    """Idempotent; extracted services call it from their migrations."""
    with psycopg.connect(database_url) as conn:
        conn.execute((_DDL + _FAILURE_DDL).encode())


def _failure(row: tuple[Any, ...]) -> Failure:
    return Failure(int(row[1]), str(row[2]), str(row[3]), bool(row[4]))


class PgInboxStore(InboxStore):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url)
            self._ensure_failure_table(self._conn)
        with self._conn.transaction():
            yield self._conn

    @staticmethod
    def _ensure_failure_table(conn: psycopg.Connection[Any]) -> None:
        """Inboxes installed before failures were persisted lack the table; the migrations that
        called ``install_inbox`` will not run again, so the store adds it (once per connection)."""
        row = conn.execute("SELECT to_regclass(%s)", (f"{INBOX_SCHEMA}.failure",)).fetchone()
        if row is None or row[0] is None:
            conn.execute(_FAILURE_DDL.encode())
        conn.commit()

    def record(self, tx: Any, consumer: str, event_id: str) -> bool:
        cur = tx.execute(
            f"INSERT INTO {INBOX_SCHEMA}.inbox (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (consumer, event_id),
        )
        return bool(cur.rowcount == 1)

    def record_many(self, tx: Any, consumer: str, event_ids: list[str]) -> set[str]:
        """Inside ``tx``, one statement: the ids of ``event_ids`` not seen before by ``consumer``."""
        rows = tx.execute(
            f"INSERT INTO {INBOX_SCHEMA}.inbox (consumer, event_id) SELECT %s, unnest(%s::text[])"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            (consumer, list(dict.fromkeys(event_ids))),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def applied_count(self, consumer: str) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                f"SELECT count(*) FROM {INBOX_SCHEMA}.inbox WHERE consumer = %s", (consumer,)
            ).fetchone()
        return int(row[0]) if row else 0

    def failures(self, tx: Any, consumer: str, event_ids: list[str]) -> dict[str, Failure]:
        rows = tx.execute(
            f"SELECT event_id, attempts, last_error, source, dead_lettered FROM {INBOX_SCHEMA}.failure"
            " WHERE consumer = %s AND event_id = ANY(%s::text[])",
            (consumer, event_ids),
        ).fetchall()
        return {str(r[0]): _failure(r) for r in rows}

    def record_unless_failed(
        self, tx: Any, consumer: str, event_ids: list[str]
    ) -> tuple[set[str], dict[str, Failure]]:
        rows = tx.execute(_RECORD_UNLESS_FAILED, {"ids": event_ids, "consumer": consumer}).fetchall()
        known = {str(r[0]): _failure(r) for r in rows if r[1] is not None}  # fresh rows have no count
        return (set(), known) if known else ({str(r[0]) for r in rows}, {})

    def record_attempt(self, consumer: str, event_id: str, source: str, error: str | None) -> int:
        with self.transaction() as tx:
            params = {"consumer": consumer, "event_id": event_id, "source": source, "error": error}
            row = tx.execute(_RECORD_ATTEMPT, params).fetchone()
        return int(row[0]) if row else 0

    def record_dead_lettered(self, consumer: str, event_id: str, source: str, error: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                f"INSERT INTO {INBOX_SCHEMA}.failure (consumer, event_id, attempts, last_error, source,"
                " dead_lettered) VALUES (%s, %s, 0, %s, %s, true) ON CONFLICT (consumer, event_id) DO UPDATE"
                " SET dead_lettered = true, source = EXCLUDED.source, last_error = EXCLUDED.last_error,"
                " updated_at = clock_timestamp()",
                (consumer, event_id, error, source),
            )

    def forget_failures(self, tx: Any, consumer: str, event_ids: list[str]) -> None:
        tx.execute(
            f"DELETE FROM {INBOX_SCHEMA}.failure WHERE consumer = %s AND event_id = ANY(%s::text[])",
            (consumer, event_ids),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
