"""The ledger backfill: chunked by id range, COPY into staging, idempotent merge, checkpointed.

Order of work, and why it leaves no gap and no double:

1. Refuse unless capture is installed on the monolith (``strangler_acl``): from then
   on every committed write is in the outbox and will reach the ledger as an event.
2. On the first run, record the targets: the highest legacy id of each phase and the
   outbox high-water mark (``max(tx_commit.commit_seq)``). Rows above a target were
   written after capture was on, so the live stream carries them; rows at or below
   it are copied here. Writes during the backfill land in both: harmless, because
   the merge is ``ON CONFLICT DO NOTHING`` on the legacy ids (the ledger's ids *are*
   the legacy ids) and the consumer's projector does the same.
3. Per chunk (``id > last AND id <= last + chunk``): read row images from the monolith,
   translate them with the live path's own code (``rows``), COPY into temporary
   staging tables, merge, fold the newest balance of each wallet in, and move the
   checkpoint — all in one transaction on the ledger database. A killed backfill
   resumes after the last committed chunk; a finished one re-run changes nothing.
4. Between chunks the throttle may pause (monolith latency above the bound).

Hand-over is complete when the relay has published every outbox row up to the
high-water mark and the ledger consumer has since found nothing pending
(``handover``); reconciliation then confirms the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from migrations.backfill import rows
from migrations.backfill.errors import BackfillError, SyncNotEnabledError, UntranslatableRowError
from migrations.backfill.throttle import MonolithProbe, Throttle

Progress = Callable[[str, int, int], None]  # (phase, rows done, rows total)
CAPABILITIES = ("ledger",)
PHASES = ("wallets", "transactions")

_CHECKPOINT_DDL = """
CREATE TABLE IF NOT EXISTS strangler_backfill_checkpoint (
    capability        text        NOT NULL,
    phase             text        NOT NULL,
    last_id           bigint      NOT NULL DEFAULT 0,
    target_id         bigint      NOT NULL,
    rows_done         bigint      NOT NULL DEFAULT 0,
    rows_total        bigint      NOT NULL,
    outbox_high_water bigint      NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    PRIMARY KEY (capability, phase)
)"""
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS bf_wallet (wallet_id bigint, merchant_id bigint, customer_id bigint,
    currency text, status text, opened_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS bf_txn (id bigint, wallet_id bigint, kind text, amount numeric,
    currency text, status text, reference text, description text, counterparty_wallet_id bigint,
    balance_after numeric, created_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS bf_entry (transaction_id bigint, leg text, account text,
    amount numeric, currency text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS bf_wallet_saved (wallet_id bigint, updated_at timestamptz)
    ON COMMIT DELETE ROWS;
"""
_MERGE_WALLETS = """
INSERT INTO ledger_wallet (wallet_id, merchant_id, customer_id, currency, status, limits_locked,
                           balance, last_transaction_id, opened_at, updated_at)
SELECT s.wallet_id, s.merchant_id, s.customer_id, s.currency, s.status,
       NOT EXISTS (SELECT 1 FROM ledger_customer c WHERE c.customer_id = s.customer_id
                   AND c.kyc_verified_at IS NOT NULL),
       0, NULL, s.opened_at, s.opened_at
  FROM bf_wallet s
ON CONFLICT (wallet_id) DO NOTHING"""
# A wallet merged while the consumer was verifying its customer (a KYC snapshot event published
# just before the backfill) can miss both the verification and the consumer's own unlock; this
# unlocks, at the end of every run, each wallet whose customer the ledger knows to be verified.
_UNLOCK_VERIFIED = """
UPDATE ledger_wallet w SET limits_locked = false
  FROM ledger_customer c
 WHERE c.customer_id = w.customer_id AND c.kyc_verified_at IS NOT NULL AND w.limits_locked"""
_MERGE_TRANSACTIONS = """
INSERT INTO ledger_transaction (id, wallet_id, kind, amount, currency, status, reference, description,
                                counterparty_wallet_id, balance_after, created_at)
SELECT id, wallet_id, kind, amount, currency, status, reference, description,
       counterparty_wallet_id, balance_after, created_at FROM bf_txn
ON CONFLICT (id) DO NOTHING"""
_MERGE_ENTRIES = """
INSERT INTO ledger_entry (transaction_id, leg, account, amount, currency)
SELECT transaction_id, leg, account, amount, currency FROM bf_entry
ON CONFLICT (transaction_id, leg) DO NOTHING"""
# Same rule as the projector: only a newer transaction than the wallet's last moves its balance.
# updated_at: the monolith's own value when the chunk holds the wallet's newest transaction (as a
# live event carries it); otherwise the posting time, the nearest fact, overwritten later anyway.
_FOLD_BALANCES = """
UPDATE ledger_wallet w
   SET balance = t.balance_after, last_transaction_id = t.id,
       updated_at = coalesce(t.saved_at, greatest(w.updated_at, t.created_at))
  FROM (SELECT DISTINCT ON (b.wallet_id) b.wallet_id, b.id, b.balance_after, b.created_at,
               s.updated_at AS saved_at
          FROM bf_txn b LEFT JOIN bf_wallet_saved s ON s.wallet_id = b.wallet_id
         ORDER BY b.wallet_id, b.id DESC) t
 WHERE w.wallet_id = t.wallet_id AND coalesce(w.last_transaction_id, 0) < t.id"""
_READ = {
    "wallets": "SELECT to_jsonb(w), NULL, NULL FROM public.wallets_wallet w"
               " WHERE w.id > %s AND w.id <= %s ORDER BY w.id",
    # the wallet's updated_at travels with its newest transaction only (what the live trigger
    # records for a posting; older rows' values are long overwritten in the monolith)
    "transactions": "SELECT to_jsonb(t), w.currency,"
                    " CASE WHEN t.id = (SELECT max(x.id) FROM public.wallets_transaction x"
                    "                   WHERE x.wallet_id = t.wallet_id) THEN w.updated_at END"
                    " FROM public.wallets_transaction t"
                    " JOIN public.wallets_wallet w ON w.id = t.wallet_id"
                    " WHERE t.id > %s AND t.id <= %s ORDER BY t.id",
}
_TABLE = {"wallets": "wallets_wallet", "transactions": "wallets_transaction"}


@dataclass(frozen=True)
class BackfillOptions:
    chunk_rows: int = 5000  # width of one id range
    latency_bound_ms: float = 50.0  # the monolith's probe p95 above this pauses the backfill
    min_pause: float = 0.0  # seconds between chunks at the least
    max_pause: float = 5.0
    restart: bool = False  # forget the checkpoint (still idempotent: copies nothing twice)


@dataclass(frozen=True)
class Checkpoint:
    phase: str
    last_id: int
    target_id: int
    rows_done: int
    rows_total: int
    outbox_high_water: int
    finished: bool


@dataclass(frozen=True)
class BackfillReport:
    capability: str
    checkpoints: tuple[Checkpoint, ...]
    chunks_now: int
    rows_now: int
    paused_s: float
    probe_p95_ms: float

    @property
    def outbox_high_water(self) -> int:
        return self.checkpoints[0].outbox_high_water if self.checkpoints else 0


def capture_installed(conn: psycopg.Connection[Any]) -> bool:
    found = conn.execute("SELECT to_regclass('strangler_acl.outbox') IS NOT NULL").fetchone()
    return bool(found and found[0])


def read_checkpoints(ledger_url: str, capability: str = "ledger") -> list[Checkpoint]:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        conn.execute(_CHECKPOINT_DDL)
        return _checkpoints(conn, capability)


def _checkpoints(conn: psycopg.Connection[Any], capability: str) -> list[Checkpoint]:
    found = conn.execute(
        "SELECT phase, last_id, target_id, rows_done, rows_total, outbox_high_water,"
        " finished_at IS NOT NULL FROM strangler_backfill_checkpoint WHERE capability = %s",
        (capability,)).fetchall()
    by_phase = {r[0]: Checkpoint(*r) for r in found}
    return [by_phase[p] for p in PHASES if p in by_phase]


def run_backfill(capability: str, legacy_url: str, ledger_url: str,
                 options: BackfillOptions | None = None, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> BackfillReport:
    """Copy the capability's history into its extracted database, resuming from the checkpoint."""
    if capability not in CAPABILITIES:
        raise BackfillError(f"no backfill is declared for capability {capability!r}; declared: "
                            f"{', '.join(CAPABILITIES)}. Nothing was copied.")
    opts = options or BackfillOptions()
    throttle = Throttle(opts.latency_bound_ms, opts.min_pause, opts.max_pause)
    chunks = copied = 0
    paused = 0.0
    with psycopg.connect(legacy_url, autocommit=True) as legacy, \
            psycopg.connect(legacy_url, autocommit=True) as probe_conn, \
            psycopg.connect(ledger_url, autocommit=True) as ledger:
        if not capture_installed(legacy):
            raise SyncNotEnabledError()
        probe = MonolithProbe(probe_conn)
        with ledger.transaction():
            ledger.execute(_CHECKPOINT_DDL)
            if opts.restart:
                ledger.execute("DELETE FROM strangler_backfill_checkpoint WHERE capability = %s",
                               (capability,))
            _start(legacy, ledger, capability)
        ledger.execute(_STAGING)
        for checkpoint in _checkpoints(ledger, capability):
            last, done = checkpoint.last_id, checkpoint.rows_done
            while last < checkpoint.target_id:
                upper = min(last + opts.chunk_rows, checkpoint.target_id)
                images = legacy.execute(_READ[checkpoint.phase], (last, upper)).fetchall()
                _chunk(ledger, capability, checkpoint.phase, images, (last, upper), done + len(images))
                done += len(images)
                last, chunks, copied = upper, chunks + 1, copied + len(images)
                if progress is not None:
                    progress(checkpoint.phase, done, checkpoint.rows_total)
                pause = throttle.observe(probe())
                if pause > 0 and last < checkpoint.target_id:
                    sleep(pause)
                    paused += pause
            if checkpoint.target_id == 0 or checkpoint.last_id >= checkpoint.target_id:
                ledger.execute("UPDATE strangler_backfill_checkpoint SET finished_at ="
                               " coalesce(finished_at, clock_timestamp()) WHERE capability = %s"
                               " AND phase = %s", (capability, checkpoint.phase))
        ledger.execute(_UNLOCK_VERIFIED)
        return BackfillReport(capability, tuple(_checkpoints(ledger, capability)), chunks, copied,
                              paused, throttle.p95())


def _chunk(ledger: psycopg.Connection[Any], capability: str, phase: str,
           images: list[tuple[Any, ...]], span: tuple[int, int], done: int, attempts: int = 5) -> None:
    """Merge one chunk and move the checkpoint, in one transaction; retried on a deadlock.

    The live consumer moves the same wallets' balances in its own order while the
    backfill folds them: PostgreSQL breaks the cycle by failing one side, and the chunk,
    idempotent, is simply merged again.
    """
    last, upper = span
    for attempt in range(1, attempts + 1):
        try:
            with ledger.transaction():
                _merge(ledger, phase, images, last)
                ledger.execute(
                    "UPDATE strangler_backfill_checkpoint SET last_id = %s, rows_done = %s,"
                    " updated_at = clock_timestamp(), finished_at = CASE WHEN %s >= target_id"
                    " THEN clock_timestamp() END WHERE capability = %s AND phase = %s",
                    (upper, done, upper, capability, phase))
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


def _start(legacy: psycopg.Connection[Any], ledger: psycopg.Connection[Any], capability: str) -> None:
    """Record targets and the outbox high-water mark once; a resumed run keeps the first ones."""
    mark = legacy.execute("SELECT coalesce(max(commit_seq), 0) FROM strangler_acl.tx_commit").fetchone()
    high_water = int(mark[0]) if mark else 0
    for phase in PHASES:
        table = sql.Identifier(_TABLE[phase])
        found = legacy.execute(sql.SQL("SELECT coalesce(max(id), 0), count(*) FROM public.{}")
                               .format(table)).fetchone()
        target, total = (int(found[0]), int(found[1])) if found else (0, 0)
        ledger.execute(
            "INSERT INTO strangler_backfill_checkpoint (capability, phase, target_id, rows_total,"
            " outbox_high_water) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (capability, phase, target, total, high_water))


def _merge(ledger: psycopg.Connection[Any], phase: str, images: list[tuple[Any, ...]],
           last_done: int) -> None:
    table = _TABLE[phase]
    try:
        if phase == "wallets":
            records = [rows.wallet_record(rows.opening(image)) for image, _, _ in images]
            _copy(ledger, "bf_wallet", rows.WALLET_COLUMNS, records)
            ledger.execute(_MERGE_WALLETS)
            return
        postings = [rows.posting(image, currency) for image, currency, _ in images]
    except rows.RowRefused as exc:
        raise UntranslatableRowError(table, _failing_id(images, phase), str(exc), last_done) from exc
    _copy(ledger, "bf_txn", rows.TRANSACTION_COLUMNS, [rows.transaction_record(p) for p in postings])
    _copy(ledger, "bf_entry", rows.ENTRY_COLUMNS,
          [e for p in postings for e in rows.entry_records(p)])
    _copy(ledger, "bf_wallet_saved", ("wallet_id", "updated_at"),
          [(image["wallet_id"], saved) for image, _, saved in images if saved is not None])
    ledger.execute(_MERGE_TRANSACTIONS)
    ledger.execute(_MERGE_ENTRIES)
    ledger.execute(_FOLD_BALANCES)


def _failing_id(images: list[tuple[Any, ...]], phase: str) -> object:
    for image, currency, _ in images:
        try:
            rows.opening(image) if phase == "wallets" else rows.posting(image, currency)
        except rows.RowRefused:
            return image.get("id")
    return "?"


def _copy(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...],
          records: list[tuple[Any, ...]]) -> None:
    if not records:
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for record in records:
            copy.write_row(record)


@dataclass(frozen=True)
class Handover:
    complete: bool
    detail: str
    pending_below_mark: int
    caught_up_at: datetime | None


def handover(legacy_url: str, ledger_url: str, capability: str = "ledger") -> Handover:
    """Has the live stream taken over? Backfill finished, outbox published through the mark,
    and the ledger consumer found nothing pending after that."""
    checkpoints = read_checkpoints(ledger_url, capability)
    unfinished = [c.phase for c in checkpoints if not c.finished]
    if not checkpoints or unfinished:
        what = ", ".join(unfinished) or "every phase"
        return Handover(False, f"backfill of {capability} not finished ({what}); run "
                               f"`strangler migrate backfill {capability}`", -1, None)
    mark = checkpoints[0].outbox_high_water
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*), max(o.handled_at) FROM strangler_acl.outbox o"
            " JOIN strangler_acl.tx_commit c ON c.txid = o.txid WHERE c.commit_seq <= %s", (mark,)
        ).fetchone()
        pending_row = conn.execute(
            "SELECT count(*) FROM strangler_acl.outbox o JOIN strangler_acl.tx_commit c"
            " ON c.txid = o.txid WHERE c.commit_seq <= %s AND o.handled_at IS NULL", (mark,)
        ).fetchone()
    pending = int(pending_row[0]) if pending_row else 0
    last_published = found[1] if found else None
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        state = conn.execute("SELECT caught_up_at FROM ledger_sync_state WHERE id = 1").fetchone()
    caught_up = state[0] if state else None
    if pending:
        return Handover(False, f"{pending} outbox rows at or below the hand-over mark {mark} are not "
                               "published yet; is the relay running?", pending, caught_up)
    if last_published is not None and (caught_up is None or caught_up < last_published):
        return Handover(False, "the ledger consumer has not caught up with the hand-over mark "
                               f"{mark} yet; is it running?", 0, caught_up)
    return Handover(True, f"backfill finished and the live stream took over at commit_seq {mark}",
                    0, caught_up)
