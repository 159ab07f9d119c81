"""Each lint rule is backed by a real lock measurement on a large table.

Two measurements per rule, both deterministic (no timing thresholds): whether an
ordinary write from another connection is blocked while the statement's lock is held,
and how much work the statement does under that lock (a full table rewrite shows as a
new relfilenode, a validation as a sequential scan). The safe step the linter suggests
either takes a lock that lets writes through or does no per-row work under its lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import errors

ROWS = 200_000
PROBE = "INSERT INTO ledger (wallet_id, amount, reference) VALUES (1, 100, 'probe')"


@pytest.fixture
def big_table(fresh_database: Callable[[str], str]) -> Iterator[str]:
    url = fresh_database("locks")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger (id bigserial PRIMARY KEY, wallet_id bigint NOT NULL, "
                     "amount bigint NOT NULL, reference text NOT NULL)")
        conn.execute(f"INSERT INTO ledger (wallet_id, amount, reference) SELECT g % 1000, g, 'r' || g "
                     f"FROM generate_series(1, {ROWS}) g")
        conn.execute("ANALYZE ledger")
    yield url


def probe_write(url: str, lock_timeout_ms: int = 300) -> float | None:
    """Seconds an ordinary INSERT took, or None if it was still blocked after the timeout."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{lock_timeout_ms}ms'")
        start = time.perf_counter()
        try:
            conn.execute(PROBE)
        except errors.LockNotAvailable:
            return None
        return time.perf_counter() - start


def blocked_while_held(url: str, ddl: str) -> bool:
    """Run ``ddl`` in an open transaction and report whether a concurrent write is blocked."""
    with psycopg.connect(url) as holder:
        holder.execute(ddl)  # transaction stays open: the DDL's lock is held
        try:
            return probe_write(url) is None
        finally:
            holder.rollback()


def relfilenode(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'ledger'").fetchone()
        assert row is not None
        return int(row[0])


def seq_scans(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'ledger'").fetchone()
        assert row is not None
        return int(row[0])


def run(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)
        conn.execute("SELECT pg_stat_force_next_flush()")


def test_index_without_concurrently_blocks_writes(big_table: str) -> None:
    assert blocked_while_held(big_table, "CREATE INDEX ledger_ref ON ledger (reference)")


def test_column_type_change_blocks_writes_while_it_rewrites_the_whole_table(big_table: str) -> None:
    assert blocked_while_held(big_table, "ALTER TABLE ledger ALTER COLUMN amount TYPE numeric(18,2)")
    before = relfilenode(big_table)
    run(big_table, "ALTER TABLE ledger ALTER COLUMN amount TYPE numeric(18,2)")
    assert relfilenode(big_table) != before, "expected a full rewrite under the lock"


def test_expand_step_adds_a_column_without_rewriting(big_table: str) -> None:
    before = relfilenode(big_table)
    run(big_table, "ALTER TABLE ledger ADD COLUMN amount_new numeric(18,2)")
    assert relfilenode(big_table) == before


def test_constraint_without_not_valid_scans_every_row_under_a_write_blocking_lock(big_table: str) -> None:
    ddl = "ALTER TABLE ledger ADD CONSTRAINT positive CHECK (amount > 0)"
    assert blocked_while_held(big_table, ddl)
    before = seq_scans(big_table)
    run(big_table, ddl)
    assert seq_scans(big_table) > before, "expected a full scan while the lock was held"


def test_not_valid_constraint_adds_without_scanning(big_table: str) -> None:
    before = seq_scans(big_table)
    run(big_table, "ALTER TABLE ledger ADD CONSTRAINT positive CHECK (amount > 0) NOT VALID")
    assert seq_scans(big_table) == before


def test_validate_constraint_does_not_block_writes(big_table: str) -> None:
    with psycopg.connect(big_table, autocommit=True) as conn:
        conn.execute("ALTER TABLE ledger ADD CONSTRAINT positive CHECK (amount > 0) NOT VALID")
    assert not blocked_while_held(big_table, "ALTER TABLE ledger VALIDATE CONSTRAINT positive")


def test_create_index_concurrently_lets_writes_through_while_it_builds(big_table: str) -> None:
    """Hold the concurrent build in its 'waiting for writers' phase and write meanwhile."""
    with psycopg.connect(big_table) as old_reader:
        # An open transaction that wrote to the table: the build must wait for it to finish.
        old_reader.execute("UPDATE ledger SET amount = amount WHERE id = 1")
        builder_error: list[BaseException] = []

        def build() -> None:
            try:
                with psycopg.connect(big_table, autocommit=True) as conn:
                    conn.execute("CREATE INDEX CONCURRENTLY ledger_ref ON ledger (reference)")
            except BaseException as exc:
                builder_error.append(exc)

        thread = threading.Thread(target=build)
        thread.start()
        with psycopg.connect(big_table, autocommit=True) as watch:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = watch.execute("SELECT phase FROM pg_stat_progress_create_index").fetchone()
                if row and "waiting" in row[0]:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the concurrent index build never reached a waiting phase")
            waited = probe_write(big_table)
        old_reader.rollback()
    thread.join(60)
    assert not builder_error, builder_error
    assert waited is not None, "a write was blocked by CREATE INDEX CONCURRENTLY"


def test_renaming_a_column_breaks_running_code_at_once(big_table: str) -> None:
    """The rename's lock is short; the damage is every process still reading the old name."""
    old_code_query = "SELECT reference FROM ledger WHERE id = 1"
    with psycopg.connect(big_table, autocommit=True) as conn:
        assert conn.execute(old_code_query).fetchone() is not None
        conn.execute("ALTER TABLE ledger RENAME COLUMN reference TO ref")
        with pytest.raises(errors.UndefinedColumn):
            conn.execute(old_code_query)


def test_blocked_write_waits_as_long_as_the_lock_is_held(big_table: str) -> None:
    """The measurement behind the rule: a write queued behind a held SHARE lock waits it out."""
    hold_s = 0.5
    with psycopg.connect(big_table) as holder:
        holder.execute("CREATE INDEX ledger_ref ON ledger (reference)")
        release = threading.Timer(hold_s, holder.commit)
        release.start()
        waited = probe_write(big_table, lock_timeout_ms=30_000)
        release.join()
    assert waited is not None and waited >= hold_s * 0.8
