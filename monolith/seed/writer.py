"""The seeder's database side: preflight checks, COPY streaming, sequences, ANALYZE.

Everything is written in one transaction, so a failed seed leaves the database
as it was. Rows are streamed with ``COPY ... FROM STDIN`` in text format from
the pure generator in :mod:`monolith.seed.generate`; payout rows, produced while
the ledger is being copied, wait in a spooled temporary file (memory-bounded)
until the transactions they point at are in.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from monolith.seed.errors import SeedError
from monolith.seed.generate import Chunk, DatasetGenerator
from monolith.seed.plan import (
    AUTH_USER_COLUMNS,
    COLUMNS,
    PAYSTREAM_TABLES,
    default_anchor,
    django_password_hash,
    epoch_us,
    plan_scale,
)

Progress = Callable[[str, int, int], None]
STAFF_USERNAME = "ops"
_PROGRESS_EVERY = 50_000
_SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class SeedReport:
    counts: dict[str, int]
    seconds: float
    rows_per_second: float
    api_keys: list[str] = field(repr=False)
    staff_username: str = STAFF_USERNAME
    foreign_key_checks: str = "per row"

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


def seed(
    database_url: str,
    *,
    transactions: int = 100_000,
    merchants: int = 10,
    seed: int = 42,
    progress: Progress | None = None,
    reset: bool = False,
    staff_password: str = "ops-dev-password",  # noqa: S107 - a documented dev default
    anchor: datetime | None = None,
    bulk_checks: bool = False,
) -> SeedReport:
    """Fill a migrated, empty PayStream database with a deterministic, realistic data set.

    ``anchor`` is the end of the ~90 days of history (default: start of today, UTC); the same
    (transactions, merchants, seed, anchor) always gives the same rows. ``reset`` truncates the
    PayStream tables first instead of refusing a database that has data.

    ``bulk_checks`` loads with row triggers off (``session_replication_role = replica``) and
    checks every foreign key with one anti-join per constraint before commit: about twice as
    fast at scale. It also skips any other trigger on those tables (e.g. a trigger-based change
    capture), and needs a superuser; without one it falls back to per-row checks. The report
    says which was used.
    """
    try:
        scale = plan_scale(transactions, merchants)
    except ValueError as exc:
        raise SeedError(f"cannot seed: {exc}. Nothing was written.") from exc
    report = progress or (lambda stage, done, total: None)
    started = time.perf_counter()
    try:
        conn = psycopg.connect(database_url)
    except psycopg.OperationalError as exc:
        raise SeedError(
            f"cannot connect to the database to seed ({exc}). Nothing was written; check the URL "
            "and that the server runs."
        ) from exc
    with conn:
        _check_migrated(conn)
        if reset:
            _truncate(conn)
        else:
            _refuse_if_not_empty(conn)
        staff_id = _upsert_staff_user(conn, staff_password)
        set_based = bulk_checks and _disable_row_triggers(conn)
        gen = DatasetGenerator(scale, seed=seed, anchor_us=epoch_us(default_anchor(anchor)),
                               staff_user_id=staff_id)
        with conn.cursor() as cur:
            _copy(cur, "accounts_merchant", gen.merchants(), report)
            _copy(cur, "accounts_apikey", gen.api_key_rows(), report)
            _copy(cur, "accounts_user", gen.users(), report, scale.users)
            _copy(cur, "accounts_kycsubmission", gen.kyc_submissions(), report)
            _copy(cur, "payouts_bankaccount", gen.bank_accounts(), report)
            _copy(cur, "wallets_wallet", gen.wallets(), report, scale.users)
            with tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
                _copy(cur, "wallets_transaction", gen.ledger(spool.write), report,
                      scale.transactions)
                spool.seek(0)
                _copy(cur, "payouts_payout", _read_chunks(spool), report)
            report("wallet balances", 0, scale.users)
            _apply_final_balances(cur, gen.wallet_balances())
            if set_based:
                report("foreign keys", 0, 1)
                _check_foreign_keys(cur)
            report("sequences", 0, len(COLUMNS))
            for table in COLUMNS:
                _set_sequence(cur, table)
            report("commit", 0, 1)
    report("analyze", 0, len(COLUMNS))
    # ANALYZE outside the seeding transaction so the planner sees committed, final statistics.
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in COLUMNS:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    seconds = time.perf_counter() - started
    counts = dict(gen.counts)
    return SeedReport(counts=counts, seconds=seconds,
                      rows_per_second=sum(counts.values()) / seconds if seconds else 0.0,
                      api_keys=list(gen.api_keys),
                      foreign_key_checks="set-based" if set_based else "per row")


def _check_migrated(conn: psycopg.Connection) -> None:
    needed = {**COLUMNS, "auth_user": ("id", *AUTH_USER_COLUMNS)}
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (list(needed) + [t for t in PAYSTREAM_TABLES if t not in needed],),
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    missing_tables = [t for t in (*needed, *PAYSTREAM_TABLES) if t not in present]
    if missing_tables:
        raise SeedError(
            f"the database is not migrated: table(s) {', '.join(sorted(set(missing_tables)))} "
            "missing. Nothing was written. Run the monolith's migrations first: "
            "STRANGLER_MONOLITH_DATABASE_URL=<url> python -m monolith.manage migrate"
        )
    for table, columns in needed.items():
        lacking = [c for c in columns if c not in present[table]]
        if lacking:
            raise SeedError(
                f"table {table} lacks column(s) {', '.join(lacking)}: its schema is not the one "
                "the seeder writes. Nothing was written. Apply all monolith migrations, or update "
                "monolith/seed/plan.py COLUMNS to the new schema."
            )


def _refuse_if_not_empty(conn: psycopg.Connection) -> None:
    filled = [
        table for table in PAYSTREAM_TABLES
        if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
            sql.Identifier(table))).fetchone() == (True,)
    ]
    if filled:
        raise SeedError(
            f"the database already has PayStream data (in {', '.join(filled)}). Nothing was "
            "written. Seed a fresh database, or pass reset=True (CLI: --reset) to truncate the "
            "PayStream tables first."
        )


def _truncate(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
        sql.SQL(", ").join(sql.Identifier(t) for t in PAYSTREAM_TABLES)))


def _upsert_staff_user(conn: psycopg.Connection, password: str) -> int:
    """The KYC reviewer ``ops``: created, or its password and staff flag reset."""
    row = conn.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) "
        "VALUES (%s, false, %s, 'Ops', 'Reviewer', 'ops@paystream.example.in', true, true, now()) "
        "ON CONFLICT (username) DO UPDATE "
        "SET password = EXCLUDED.password, is_staff = true, is_active = true RETURNING id",
        (django_password_hash(password), STAFF_USERNAME),
    ).fetchone()
    assert row is not None  # RETURNING always yields the row
    return int(row[0])


def _disable_row_triggers(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not (row and row[0]):
        return False
    conn.execute("SET LOCAL session_replication_role = replica")
    return True


def _check_foreign_keys(cur: psycopg.Cursor) -> None:
    """Every single-column foreign key of the seeded tables, checked set-based."""
    constraints = cur.execute(
        "SELECT c.conname, c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, "
        "af.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])",
        (list(COLUMNS),),
    ).fetchall()
    for name, child, column, parent, key in constraints:
        orphans = cur.execute(sql.SQL(
            "SELECT count(*) FROM {child} c WHERE c.{col} IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM {parent} p WHERE p.{key} = c.{col})").format(
                child=sql.Identifier(child), col=sql.Identifier(column),
                parent=sql.Identifier(parent), key=sql.Identifier(key))).fetchone()
        if orphans and orphans[0]:
            raise SeedError(
                f"seeder bug: {orphans[0]} row(s) of {child}.{column} point at no {parent} row "
                f"(constraint {name}). Nothing was written (rolled back). Seed with "
                "bulk_checks=False to find the first bad row, and report it."
            )


def _copy(cur: psycopg.Cursor, table: str, chunks: Iterable[Chunk], progress: Progress,
          total: int = 0) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table]))
    done = 0
    next_report = _PROGRESS_EVERY
    with cur.copy(statement) as copy:
        for text, rows in chunks:
            copy.write(text)
            done += rows
            if done >= next_report:
                progress(table, done, total or done)
                next_report += _PROGRESS_EVERY
    progress(table, done, total or done)
    return done


def _read_chunks(spool: Iterable[str]) -> Iterable[Chunk]:
    lines: list[str] = []
    for line in spool:
        lines.append(line)
        if len(lines) >= 2000:
            yield "".join(lines), len(lines)
            lines = []
    if lines:
        yield "".join(lines), len(lines)


def _apply_final_balances(cur: psycopg.Cursor, balances: Iterable[Chunk]) -> None:
    cur.execute("CREATE TEMP TABLE seed_final_balance "
                "(id bigint PRIMARY KEY, balance bigint, updated_at timestamptz) ON COMMIT DROP")
    with cur.copy("COPY seed_final_balance (id, balance, updated_at) FROM STDIN") as copy:
        for text, _rows in balances:
            copy.write(text)
    cur.execute("UPDATE wallets_wallet w SET balance = f.balance, updated_at = f.updated_at "
                "FROM seed_final_balance f WHERE w.id = f.id")


def _set_sequence(cur: psycopg.Cursor, table: str) -> None:
    # setval(seq, max, true) makes the next id max + 1; an empty table restarts at 1.
    cur.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                "COALESCE((SELECT max(id) FROM {}), 1), EXISTS (SELECT 1 FROM {}))").format(
            sql.Identifier(table), sql.Identifier(table)),
        (table,),
    )
