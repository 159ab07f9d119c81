"""ACL retention benchmark: how fast ``strangler acl prune`` empties a big outbox; what a no-op run costs.

One command: ``.venv/bin/python bench/acl_prune_bench.py [ROWS]`` (default 1,000,000; starts
its own embedded PostgreSQL on a free port, prints a rich table, writes bench/results/acl_prune.json).

The outbox is filled with SQL (3 rows per transaction, like a credit plus a balance update
plus one more write), 80 % handled eight days ago and 20 % handled just now, so a 7-day
prune deletes 80 % of the rows and their commit stamps and must stop scanning at the window.
Then: the dry run, the real run (5,000 rows per batch), and a second real run (nothing left
to delete: the cost of the hourly schedule once caught up).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acl.install import _DDL  # noqa: E402
from acl.prune import PruneResult, prune  # noqa: E402
from strangler.stack.net import free_port  # noqa: E402
from strangler.stack.postgres import EmbeddedPostgres, ensure_database  # noqa: E402

_FILL = """
INSERT INTO strangler_acl.tx_commit (txid, committed_at)
SELECT (1000 + g)::text::xid8, now() - CASE WHEN g < %(old)s THEN interval '8 days' ELSE interval '0' END
  FROM generate_series(0, %(txs)s - 1) g;
INSERT INTO strangler_acl.outbox (txid, tx_first, table_name, op, lane, aggregate_type, aggregate_key,
                                  after, captured_at, handled_at, outcome)
SELECT (1000 + g / 3)::text::xid8, g %% 3 = 0, 'wallets_transaction', 'INSERT', g %% 64, 'wallet',
       (g %% 5000)::text, jsonb_build_object('id', g, 'amount', 100),
       now() - CASE WHEN g / 3 < %(old)s THEN interval '8 days' ELSE interval '0' END,
       now() - CASE WHEN g / 3 < %(old)s THEN interval '8 days' ELSE interval '0' END, 'published'
  FROM generate_series(0, %(rows)s - 1) g;
"""


def fill(url: str, rows: int) -> None:
    txs = rows // 3
    with psycopg.connect(url) as conn:
        conn.execute(_DDL.encode())
        # the fill writes the commit stamps itself
        conn.execute("ALTER TABLE strangler_acl.outbox DISABLE TRIGGER stamp_commit")
        for statement in _FILL.split(";")[:2]:
            conn.execute(statement.encode(), {"rows": txs * 3, "txs": txs, "old": int(txs * 0.8)})
        conn.execute("ALTER TABLE strangler_acl.outbox ENABLE TRIGGER stamp_commit")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE strangler_acl.outbox")
        conn.execute("VACUUM ANALYZE strangler_acl.tx_commit")


def timed(url: str, dry_run: bool) -> tuple[PruneResult, float]:
    started = time.perf_counter()
    result = prune(url, timedelta(days=7), batch_size=5000, dry_run=dry_run)
    return result, time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="acl-prune-bench-")) / "data", free_port())
    pg.start()
    try:
        ensure_database(pg.url(), "prune_bench")
        url = pg.url("prune_bench")
        fill(url, rows)
        runs = {"dry run": timed(url, True), "prune": timed(url, False), "second prune": timed(url, False)}
    finally:
        pg.stop()
    table = Table(f"7-day prune of {rows:,} outbox rows", "rows", "commit stamps", "seconds", "rows/s")
    out = {}
    for name, (result, seconds) in runs.items():
        table.add_row(name, f"{result.outbox_rows:,}", f"{result.commit_stamps:,}", f"{seconds:.2f}",
                      f"{result.outbox_rows / seconds:,.0f}" if result.outbox_rows else "-")
        out[name] = {"rows": result.outbox_rows, "stamps": result.commit_stamps, "seconds": round(seconds, 3)}
    Console().print(table)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "acl_prune.json").write_text(json.dumps({"rows": rows, "runs": out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
