"""The write path's gate (``write_store.check_gate``): the write cutover's hold, in the ledger's database.

One row. ``open``: the write path writes. ``held``: a hand-over is under way (the monolith's
last postings are still on their way to the projector, or the legacy tables are catching
up with the ledger's): a write waits up to ``hold_wait_ms``, then answers 503 with its
request id and changes nothing. ``closed``: the monolith is the writer (after a rollback);
a write answers 503 at once. Shadow copies (dry runs) never commit and pass in every state.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger_query", "0004_write_path")]

    operations = [
        migrations.RunSQL(
            """
            CREATE TABLE IF NOT EXISTS ledger_write_gate (
                id           smallint    PRIMARY KEY CHECK (id = 1),
                state        text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'held', 'closed')),
                reason       text        NOT NULL DEFAULT '',
                hold_wait_ms integer     NOT NULL DEFAULT 5000 CHECK (hold_wait_ms >= 0),
                changed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
            );
            INSERT INTO ledger_write_gate (id) VALUES (1) ON CONFLICT DO NOTHING;
            """,
            "DROP TABLE IF EXISTS ledger_write_gate;",
        ),
    ]
