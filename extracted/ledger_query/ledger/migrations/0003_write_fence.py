"""The read-your-writes fence's record of applied requests (extracted.ledger_query.fence).

UNLOGGED on purpose: it is a cache of recent facts, written on every consumed event.
Losing it in a crash only makes fenced reads miss and be served by the monolith.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger_query", "0002_inbox_and_sync_state")]

    operations = [
        migrations.RunSQL(
            """
            CREATE UNLOGGED TABLE IF NOT EXISTS ledger_write_fence (
                correlation_id text        NOT NULL,
                wallet_id      bigint      NOT NULL,
                applied        boolean     NOT NULL,
                recorded_at    timestamptz NOT NULL,
                PRIMARY KEY (correlation_id, wallet_id)
            );
            CREATE INDEX IF NOT EXISTS ledger_write_fence_recorded_at
                ON ledger_write_fence (recorded_at);
            """,
            "DROP TABLE IF EXISTS ledger_write_fence",
        ),
    ]
