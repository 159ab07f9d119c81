"""Debezium change records of ``strangler_acl.outbox`` (JSON, schemas off) -> ``PendingChange``. Pure.

Builds the same ``Change`` the Python relay reads with SQL (``acl.adapters.pg_outbox``):
same source id (``<origin>/outbox:<id>``), hence the same deterministic event ids.
jsonb columns arrive as their JSON text, timestamptz as ISO-8601 UTC.
Only inserts (``c``) and snapshot reads (``r``) are changes to publish; heartbeats,
tombstones and anything else are not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from acl.domain import Change
from acl.install import SCHEMA
from acl.ports import PendingChange

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _jsonb(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def decode(value: str | None, origin: str, position: int) -> PendingChange | None:
    """One record's value; ``position`` is its place in the commit-ordered stream (the ``commit_seq``)."""
    if value is None:
        return None
    doc = json.loads(value)
    source = doc.get("source") or {}
    if doc.get("op") not in ("c", "r") or (source.get("schema"), source.get("table")) != (SCHEMA, "outbox"):
        return None
    row = doc["after"]
    oid = int(row["id"])
    # source.ts_us is the transaction's commit time for streamed changes (the snapshot's time for reads)
    committed_at = _EPOCH + timedelta(microseconds=int(source.get("ts_us") or source["ts_ms"] * 1000))
    change = Change(
        f"{origin}/outbox:{oid}",
        row["table_name"],
        row["op"],
        _jsonb(row.get("before")),
        _jsonb(row.get("after")),
        datetime.fromisoformat(row["captured_at"]),
        row.get("correlation_id"),
        row.get("traceparent"),
        _jsonb(row.get("context")) or {},
    )
    aggregate = f"{row['aggregate_type']}:{row.get('aggregate_key') or ''}"
    return PendingChange(oid, position, committed_at, aggregate, change)
