"""Backfill: publish a snapshot of existing legacy rows as events. Deterministic ids, resumable.

Each row becomes a ``SNAPSHOT`` change whose source id includes a digest of the
row image, so re-running over unchanged rows re-publishes the same event ids
(consumers' inboxes absorb them). Progress (last primary key done) is stored in
``strangler_acl.backfill_progress`` only after the broker acknowledged the
batch, so an interrupted backfill resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from acl.adapters.pg_outbox import origin_of
from acl.contracts import ContractRegistry
from acl.domain import Change
from acl.errors import AclError, PublishError
from acl.install import SCHEMA
from acl.ports import PendingChange, Publisher, QuarantineEntry
from acl.relay import render
from acl.spec import CapturedTable, table_spec

Progress = Callable[[int, int], None]  # (rows done, rows total)


def _snapshot(
    table: str, row: dict[str, Any], context: dict[str, Any], origin: str, correlation_id: str
) -> PendingChange:
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:16]
    change = Change(
        f"{origin}/snapshot:{table}:{row['id']}:{digest}",
        table,
        "SNAPSHOT",
        None,
        row,
        datetime.now(UTC),
        correlation_id,
        None,
        context,
    )
    return PendingChange(0, 0, datetime.now(UTC), table, change)


def _context_sql(spec: CapturedTable) -> sql.Composable:
    """The facts the capture trigger would have looked up, as of now, for row ``t``."""
    if not spec.enrich_wallet_currency:
        return sql.SQL("'{}'::jsonb")
    currency = sql.SQL(
        "jsonb_build_object('wallet_currency', (SELECT w.currency FROM public.wallets_wallet w"
        " WHERE w.id = t.wallet_id))"
    )
    if not spec.enrich_wallet_updated_at:
        return currency
    # The wallet's updated_at today is only what it was after the wallet's *newest* ledger row;
    # older rows get none rather than a wrong one (the field is optional in the contract).
    return sql.SQL(
        "{currency} || CASE WHEN t.id = (SELECT max(l.id) FROM public.{table} l"
        " WHERE l.wallet_id = t.wallet_id) THEN jsonb_build_object('wallet_updated_at',"
        " (SELECT w.updated_at FROM public.wallets_wallet w WHERE w.id = t.wallet_id)) ELSE '{{}}'::jsonb END"
    ).format(currency=currency, table=sql.Identifier(spec.table))


def backfill(
    database_url: str,
    table: str,
    publisher: Publisher,
    contracts: ContractRegistry,
    batch_size: int = 1000,
    restart: bool = False,
    progress: Progress | None = None,
    correlation_id: str | None = None,
) -> int:
    """Publish every row of ``table`` (resuming after the last acknowledged batch); returns rows done now."""
    spec = table_spec(table)
    if spec is None:
        raise AclError(f"{table} is not a captured table; choose one of acl.spec.CAPTURED_TABLES")
    read = sql.SQL(
        "SELECT to_jsonb(t), {ctx} FROM public.{table} t WHERE t.id > %s ORDER BY t.id LIMIT %s"
    ).format(ctx=_context_sql(spec), table=sql.Identifier(table))
    done_now = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        origin = origin_of(conn)
        cid = correlation_id or f"backfill:{table}"
        if restart:
            conn.execute(f"DELETE FROM {SCHEMA}.backfill_progress WHERE table_name = %s", (table,))
        state = conn.execute(
            f"SELECT last_pk, rows_done FROM {SCHEMA}.backfill_progress WHERE table_name = %s", (table,)
        ).fetchone()
        last_pk, rows_done = state if state else (0, 0)
        total_row = conn.execute(
            sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))
        ).fetchone()
        total = int(total_row[0]) if total_row else 0
        while True:
            rows = conn.execute(read, (last_pk, batch_size)).fetchall()
            if not rows:
                return done_now
            messages, quarantined = [], []
            for image, context in rows:
                pending = _snapshot(table, image, context, origin, cid)
                try:
                    messages.extend(render(pending, contracts))
                except AclError as exc:
                    quarantined.append(
                        QuarantineEntry(pending.change, None, getattr(exc, "reason", str(exc)))
                    )
            if not all(publisher.publish(messages)):
                raise PublishError(
                    f"backfill of {table} stopped after id {last_pk}: the broker did not acknowledge "
                    "a batch. Progress is kept; run it again to resume."
                )
            last_pk, rows_done, done_now = rows[-1][0]["id"], rows_done + len(rows), done_now + len(rows)
            with conn.transaction():
                for q in quarantined:
                    conn.execute(
                        f"INSERT INTO {SCHEMA}.quarantine (source_id, table_name, op, after, reason)"
                        " VALUES (%s, %s, 'SNAPSHOT', %s, %s)",
                        (q.change.source_id, table, psycopg.types.json.Jsonb(q.change.after), q.reason),
                    )
                conn.execute(
                    f"INSERT INTO {SCHEMA}.backfill_progress (table_name, last_pk, rows_done) VALUES"
                    " (%s, %s, %s) ON CONFLICT (table_name) DO UPDATE SET last_pk = EXCLUDED.last_pk,"
                    " rows_done = EXCLUDED.rows_done, updated_at = clock_timestamp()",
                    (table, last_pk, rows_done),
                )
            if progress is not None:
                progress(rows_done, total)
