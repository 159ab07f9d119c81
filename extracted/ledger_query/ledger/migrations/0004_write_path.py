"""The ledger write path's own tables (extracted.ledger_query.write_path).

- ``ledger_write_txn_id_seq``: ids of postings the write path makes. They start at
  ``WRITE_ID_BASE`` (10^15), far above any id the monolith's ledger will reach, so a
  posting made here and a posting projected from a monolith event can never share an id,
  and the id alone says where a posting came from.
- ``ledger_write_event``: one row per posting the write path made, in the same transaction:
  the domain event it publishes (the legacy tables are kept in step from these rows), and
  the mark of a write-path posting. When that posting comes back as a monolith event (the
  legacy tables were synced from it), the projector finds its id taken and applies nothing.
- ``ledger_idempotency``: stored responses per (merchant, Idempotency-Key), as the monolith's
  ``wallets_idempotencyrecord``.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger_query", "0003_write_fence")]

    operations = [
        migrations.RunSQL(
            """
            CREATE SEQUENCE IF NOT EXISTS ledger_write_txn_id_seq AS bigint
                START WITH 1000000000000000 MINVALUE 1000000000000000;
            CREATE TABLE IF NOT EXISTS ledger_write_event (
                transaction_id bigint      PRIMARY KEY,
                wallet_id      bigint      NOT NULL,
                event_type     text        NOT NULL,
                data           jsonb       NOT NULL,
                correlation_id text,
                recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
                synced_at      timestamptz
            );
            CREATE INDEX IF NOT EXISTS ledger_write_event_unsynced
                ON ledger_write_event (transaction_id) WHERE synced_at IS NULL;
            CREATE TABLE IF NOT EXISTS ledger_idempotency (
                merchant_id     bigint      NOT NULL,
                key             text        NOT NULL,
                request_hash    text        NOT NULL,
                response_status smallint,
                response_body   bytea,
                created_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (merchant_id, key)
            );
            """,
            """
            DROP TABLE IF EXISTS ledger_idempotency;
            DROP TABLE IF EXISTS ledger_write_event;
            DROP SEQUENCE IF EXISTS ledger_write_txn_id_seq;
            """,
        ),
    ]
