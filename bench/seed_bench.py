"""Seeder benchmark: COPY-based seeding at scale vs. a named baseline (psycopg executemany INSERT).

    /work/venv/bin/python bench/seed_bench.py --transactions 1000000

Starts its own embedded PostgreSQL on a free port in a temporary directory (or uses the
server of $STRANGLER_MONOLITH_DATABASE_URL with --use-configured-server), migrates fresh
databases, seeds, prints a rich table and writes bench/results/seed.json.

Baseline "executemany-insert": the same generator's rows (same seed, same tables, same order,
one transaction, FK checks per row) inserted with ``cursor.executemany(INSERT ...)`` instead of
COPY, at a smaller scale (--baseline-transactions), end to end like the seeder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from monolith.seed import seed
from monolith.seed.generate import DatasetGenerator
from monolith.seed.plan import COLUMNS, default_anchor, epoch_us, plan_scale
from monolith.seed.writer import _check_migrated, _upsert_staff_user
from strangler.stack.net import free_port

RESULTS = Path(__file__).parent / "results" / "seed.json"
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)



def _db_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def _migrated_database(server_url: str) -> str:
    name = f"seedbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _db_url(server_url, name)
    subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"],
                   env={**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": url}, check=True)
    return url


def _drop(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')


def _rows(text: str) -> list[list[str | None]]:
    return [[None if v == "\\N" else v for v in line.split("\t")]
            for line in text.splitlines()]


def baseline_executemany(url: str, transactions: int, merchants: int) -> tuple[int, float]:
    """The same rows as ``seed()``, inserted with executemany; returns (rows, seconds)."""
    started = time.perf_counter()
    payouts: list[str] = []
    rows = 0
    with psycopg.connect(url) as conn:
        _check_migrated(conn)
        staff = _upsert_staff_user(conn, "ops-dev-password")
        gen = DatasetGenerator(plan_scale(transactions, merchants), seed=42,
                               anchor_us=epoch_us(default_anchor(ANCHOR)), staff_user_id=staff)
        stages = [("accounts_merchant", gen.merchants), ("accounts_apikey", gen.api_key_rows),
                  ("accounts_user", gen.users), ("accounts_kycsubmission", gen.kyc_submissions),
                  ("payouts_bankaccount", gen.bank_accounts), ("wallets_wallet", gen.wallets),
                  ("wallets_transaction", lambda: gen.ledger(payouts.append)),
                  ("payouts_payout", lambda: iter([("".join(payouts), len(payouts))]))]
        with conn.cursor() as cur:
            for table, chunks in stages:
                cols = COLUMNS[table]
                insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sql.SQL(", ").join(sql.Placeholder() * len(cols)))
                for text, count in chunks():
                    if count:
                        cur.executemany(insert, _rows(text))
                        rows += count
    return rows, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=10)
    parser.add_argument("--baseline-transactions", type=int, default=100_000)
    parser.add_argument("--use-configured-server", action="store_true")
    args = parser.parse_args()

    server = None
    if args.use_configured_server:
        from strangler.config import get_settings

        server_url = _db_url(get_settings().monolith_database_url, "postgres")
    else:
        from strangler.stack.postgres import EmbeddedPostgres

        tmp = Path(tempfile.mkdtemp(prefix="seedbench-"))
        server = EmbeddedPostgres(tmp / "data", free_port())
        server.start()
        server_url = server.url()
    console = Console()
    results: list[dict[str, object]] = []
    try:
        runs = [("copy (per-row FK checks)", "copy", args.transactions, False),
                ("copy --bulk-checks (set-based FK checks)", "copy", args.transactions, True),
                ("copy (per-row FK checks), baseline scale", "copy", args.baseline_transactions,
                 False),
                ("baseline: executemany-insert", "baseline", args.baseline_transactions, False)]
        for label, kind, txns, bulk in runs:
            url = _migrated_database(server_url)
            try:
                with console.status(f"{label}: {txns:,} transactions"):
                    if kind == "copy":
                        report = seed(url, transactions=txns, merchants=args.merchants,
                                      anchor=ANCHOR, bulk_checks=bulk)
                        rows, seconds = report.total_rows, report.seconds
                    else:
                        rows, seconds = baseline_executemany(url, txns, args.merchants)
            finally:
                _drop(server_url, url)
            results.append({"name": label, "transactions": txns, "rows": rows,
                            "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)})
    finally:
        if server is not None:
            server.stop()

    base = results[-1]["rows_per_second"]
    table = Table(title="monolith.seed: rows/s (all tables, incl. generation, one transaction)")
    for column in ("run", "transactions", "rows", "seconds", "rows/s", "vs baseline"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for r in results:
        table.add_row(str(r["name"]), f"{r['transactions']:,}", f"{r['rows']:,}",
                      f"{r['seconds']:.2f}", f"{r['rows_per_second']:,}",
                      f"{r['rows_per_second'] / base:.1f}x")  # type: ignore[operator]
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "runs": results}, indent=2) + "\n")
    console.print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
