"""Install capture into the monolith's database: schema ``strangler_acl``, outbox, triggers. Idempotent.

How capture works, and why it keeps per-aggregate order
------------------------------------------------------
``strangler_acl.capture()`` is an AFTER INSERT/UPDATE/DELETE FOR EACH ROW trigger
on every table in ``acl.spec.CAPTURED_TABLES``: it writes the row images
(``to_jsonb(OLD)``/``to_jsonb(NEW)``), the op, ``pg_current_xact_id()``, the
correlation id and traceparent (``current_setting('strangler.correlation_id', true)``)
and the aggregate's ordering lane into ``strangler_acl.outbox``, inside the
writer's transaction. Any write path is captured; a rollback leaves nothing.

``outbox.id`` (a BIGSERIAL) is taken when the row is written, which is *not*
commit order: T2 may write a ledger row (id 10) for wallet 7, then wait for
T1's lock on wallet 7; T1 writes id 11 and commits first. So the first captured
row of each transaction also queues a DEFERRABLE INITIALLY DEFERRED constraint
trigger; it runs at COMMIT, while the transaction still holds all its row locks,
and takes ``commit_seq`` from a sequence into ``strangler_acl.tx_commit``.
Two transactions that write the same aggregate conflict on a row lock (the
wallet row, FOR UPDATE or the UPDATE of its balance), so the second reaches its
commit trigger only after the first has committed: their commit_seq values are
in commit order. The relay publishes each lane in (commit_seq, id) order; id
orders rows within one transaction. It also NOTIFYs the relay, once per transaction.

Writers of one aggregate that never touch a common row are not ordered by the
database either; for them any order is a valid history.
"""

from __future__ import annotations

import psycopg

from acl.errors import InstallError
from acl.spec import CAPTURED_TABLES, LANES

SCHEMA = "strangler_acl"
NOTIFY_CHANNEL = "strangler_acl_outbox"

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};

CREATE TABLE IF NOT EXISTS {SCHEMA}.outbox (
    id             bigserial PRIMARY KEY,
    txid           xid8        NOT NULL,
    tx_first       boolean     NOT NULL DEFAULT false,
    table_name     text        NOT NULL,
    op             text        NOT NULL,
    lane           smallint    NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_key  text,
    before         jsonb,
    after          jsonb,
    context        jsonb       NOT NULL DEFAULT '{{}}',
    correlation_id text,
    traceparent    text,
    captured_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    handled_at     timestamptz,
    outcome        text CHECK (outcome IN ('published', 'quarantined'))
);
CREATE INDEX IF NOT EXISTS outbox_pending ON {SCHEMA}.outbox (lane, id) WHERE handled_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_txid ON {SCHEMA}.outbox (txid);

CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.commit_seq;
CREATE TABLE IF NOT EXISTS {SCHEMA}.tx_commit (
    txid         xid8 PRIMARY KEY,
    commit_seq   bigint NOT NULL DEFAULT nextval('{SCHEMA}.commit_seq'),
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- one random id per installation: outbox ids restart in a new database, event ids must not repeat
CREATE TABLE IF NOT EXISTS {SCHEMA}.origin (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id        uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO {SCHEMA}.origin DEFAULT VALUES ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS {SCHEMA}.relay_lane (lane smallint PRIMARY KEY);
INSERT INTO {SCHEMA}.relay_lane SELECT generate_series(0, {LANES - 1}) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS {SCHEMA}.quarantine (
    id             bigserial PRIMARY KEY,
    outbox_id      bigint,
    source_id      text        NOT NULL,
    table_name     text        NOT NULL,
    op             text        NOT NULL,
    before         jsonb,
    after          jsonb,
    event_type     text,
    payload        jsonb,
    reason         text        NOT NULL,
    correlation_id text,
    quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at    timestamptz
);
-- prune keeps the outbox rows of unresolved entries and looks them up by outbox id
CREATE INDEX IF NOT EXISTS quarantine_unresolved ON {SCHEMA}.quarantine (outbox_id) WHERE resolved_at IS NULL;

CREATE TABLE IF NOT EXISTS {SCHEMA}.backfill_progress (
    table_name text PRIMARY KEY,
    last_pk    bigint NOT NULL,
    rows_done  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION {SCHEMA}.capture() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    tx       xid8    := pg_current_xact_id();
    first    boolean := current_setting('strangler_acl.tx', true) IS DISTINCT FROM tx::text;
    img_old  jsonb;
    img_new  jsonb;
    agg      text;
    ctx      jsonb   := '{{}}';
    wallet_currency   text;
    wallet_updated_at timestamptz;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO {SCHEMA}.outbox (txid, tx_first, table_name, op, lane, aggregate_type)
        VALUES (tx, first, TG_TABLE_NAME, 'TRUNCATE', 0, TG_ARGV[0]);
    ELSE
        IF TG_OP <> 'INSERT' THEN img_old := to_jsonb(OLD); END IF;
        IF TG_OP <> 'DELETE' THEN img_new := to_jsonb(NEW); END IF;
        agg := coalesce(img_new, img_old) ->> TG_ARGV[1];
        IF TG_ARGV[2] <> '' THEN
            -- a ledger/payout row has no currency; its wallet (same transaction, so it sees the
            -- wallet as this transaction just saved it) has. TG_ARGV[2] names the facts wanted.
            SELECT w.currency, w.updated_at INTO wallet_currency, wallet_updated_at
              FROM public.wallets_wallet w
             WHERE w.id = (coalesce(img_new, img_old) ->> 'wallet_id')::bigint;
            ctx := jsonb_build_object('wallet_currency', wallet_currency);
            IF 'wallet_updated_at' = ANY (string_to_array(TG_ARGV[2], ',')) THEN
                ctx := ctx || jsonb_build_object('wallet_updated_at', wallet_updated_at);
            END IF;
        END IF;
        INSERT INTO {SCHEMA}.outbox (txid, tx_first, table_name, op, lane, aggregate_type, aggregate_key,
                                     before, after, context, correlation_id, traceparent)
        VALUES (tx, first, TG_TABLE_NAME, TG_OP, abs(hashtext(TG_ARGV[0] || ':' || agg)) % {LANES},
                TG_ARGV[0], agg, img_old, img_new, ctx,
                nullif(current_setting('strangler.correlation_id', true), ''),
                nullif(current_setting('strangler.traceparent', true), ''));
    END IF;
    IF first THEN
        PERFORM set_config('strangler_acl.tx', tx::text, true);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION {SCHEMA}.stamp_commit() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- runs at COMMIT (deferred), with the transaction's row locks still held: see module docstring
    INSERT INTO {SCHEMA}.tx_commit (txid) VALUES (NEW.txid) ON CONFLICT DO NOTHING;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS stamp_commit ON {SCHEMA}.outbox;
CREATE CONSTRAINT TRIGGER stamp_commit AFTER INSERT ON {SCHEMA}.outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.tx_first) EXECUTE FUNCTION {SCHEMA}.stamp_commit();
"""


def _table_ddl(table: str, aggregate_type: str, column: str, enrich: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS strangler_acl_capture ON public.{table};
CREATE TRIGGER strangler_acl_capture AFTER INSERT OR UPDATE OR DELETE ON public.{table}
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.capture('{aggregate_type}', '{column}', '{enrich}');
DROP TRIGGER IF EXISTS strangler_acl_truncate ON public.{table};
CREATE TRIGGER strangler_acl_truncate AFTER TRUNCATE ON public.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.capture('{aggregate_type}', '{column}', '{enrich}');
"""


def install_sql() -> str:
    """The whole script (also what ``strangler acl install --print`` could show a DBA)."""
    parts = [_DDL]
    for spec in CAPTURED_TABLES:
        parts.append(_table_ddl(spec.table, spec.aggregate_type, spec.aggregate_column, spec.enrichment()))
    return "\n".join(parts)


def install(database_url: str) -> None:
    """Create or refresh the capture schema and triggers; safe to run again at every deploy.

    One transaction under an advisory lock, so two deploys racing cannot interleave.
    """
    try:
        with psycopg.connect(database_url) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('strangler_acl.install'))")
            missing = [
                s.table
                for s in CAPTURED_TABLES
                if conn.execute("SELECT to_regclass(%s)", (f"public.{s.table}",)).fetchone() == (None,)
            ]
            if missing:
                raise InstallError(
                    f"tables {missing} do not exist in {_redact(database_url)}; run the "
                    "monolith's migrations first. Nothing was installed."
                )
            conn.execute(install_sql().encode())
    except psycopg.Error as exc:
        raise InstallError(
            f"installing capture failed: {exc}. The transaction was rolled back; nothing changed."
        ) from exc


def uninstall(database_url: str) -> None:
    """Remove the triggers (the outbox and quarantine are kept for inspection)."""
    with psycopg.connect(database_url) as conn:
        for spec in CAPTURED_TABLES:
            conn.execute(f"DROP TRIGGER IF EXISTS strangler_acl_capture ON public.{spec.table}".encode())
            conn.execute(f"DROP TRIGGER IF EXISTS strangler_acl_truncate ON public.{spec.table}".encode())


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}{parts.path}"
