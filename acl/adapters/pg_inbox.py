"""The inbox in a consumer's own PostgreSQL: one row per applied event, in the effect's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from acl.ports import InboxStore

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


def install_inbox(database_url: str) -> None:
    """Idempotent; extracted services call it from their migrations."""
    with psycopg.connect(database_url) as conn:
        conn.execute(_DDL.encode())


class PgInboxStore(InboxStore):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url)
        with self._conn.transaction():
            yield self._conn

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

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
