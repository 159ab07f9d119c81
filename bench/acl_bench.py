"""ACL benchmark: capture overhead on writes, relay throughput, commit-to-Kafka latency at 1,000 writes/s.

One command: ``/work/venv/bin/python bench/acl_bench.py`` (starts its own embedded
PostgreSQL and Tansu on free ports, migrates a scratch monolith database, prints
a rich table and writes bench/results/acl.json).

- capture ratio: the SQL of a credit (lock wallet, INSERT ledger row, UPDATE balance,
  one autocommit statement, one round trip), median latency with the triggers vs without, alternating rounds
  on the same database and connection so drift hits both sides alike.
- throughput: a pre-filled outbox of ledger inserts drained by one PythonRelay
  (translate + validate + CloudEvents + idempotent produce + delivery reports + mark).
- latency: two writer threads paced at 500 credits/s each while one relay runs; per
  event, the time from the commit stamp (deferred trigger at COMMIT) to the delivery report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from strangler.stack.kafka import tansu_argv
from strangler.stack.net import free_port

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acl.adapters.kafka_publisher import KafkaPublisher  # noqa: E402
from acl.adapters.pg_outbox import PgOutboxStore  # noqa: E402
from acl.contracts import ContractRegistry, load_contracts  # noqa: E402
from acl.envelope import OutgoingMessage  # noqa: E402
from acl.install import install, uninstall  # noqa: E402
from acl.ops import ensure_topics, event_topics  # noqa: E402
from acl.ports import PendingChange  # noqa: E402
from acl.relay import PythonRelay  # noqa: E402
from strangler.stack.postgres import EmbeddedPostgres  # noqa: E402


def first(cur: psycopg.Cursor[Any]) -> Any:
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("query returned no row")
    return row[0]



def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LatencyRelay(PythonRelay):
    """Keeps raw commit-to-ack samples (the Prometheus histogram only has buckets)."""

    samples: list[float]

    def _observe(self, pending: PendingChange, messages: list[OutgoingMessage], now: datetime) -> None:
        if messages:
            self.samples.append((datetime.now(UTC) - pending.committed_at).total_seconds())


_CREDIT = """
WITH w AS (SELECT id, balance + 100 AS balance FROM wallets_wallet WHERE id = %(w)s FOR UPDATE),
     t AS (INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,
                                            description, created_at)
           SELECT id, 1, 100, balance, 1, '', '', now() FROM w)
UPDATE wallets_wallet SET balance = w.balance, updated_at = now() FROM w WHERE wallets_wallet.id = w.id
"""


def credit_sql(conn: psycopg.Connection[Any], wallet: int) -> None:
    """A credit as the monolith does it (lock, ledger row, balance), in one statement = one transaction."""
    conn.execute(_CREDIT, {"w": wallet})


def seed_wallets(db: str, n: int) -> list[int]:
    with psycopg.connect(db, autocommit=True) as conn:
        m = first(
            conn.execute(
                "INSERT INTO accounts_merchant (name, email, is_active, created_at) VALUES"
                " ('bench', 'b@example.com', true, now()) RETURNING id"
            )
        )
        u = first(
            conn.execute(
                "INSERT INTO accounts_user (merchant_id, external_ref, full_name, email, phone, kyc_status,"
                " created_at, updated_at) VALUES (%s, 'b', 'Bench', '', '', 0, now(), now()) RETURNING id",
                (m,),
            )
        )
        return [
            first(
                conn.execute(
                    "INSERT INTO wallets_wallet (merchant_id, user_id, currency, balance, status,"
                    " limits_locked, created_at, updated_at) VALUES (%s, %s, 'INR', 0, 1, true, now(), now())"
                    " RETURNING id",
                    (m, u),
                )
            )
            for _ in range(n)
        ]


def mark_all_handled(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE strangler_acl.outbox SET handled_at = now(), outcome = 'published'"
            " WHERE handled_at IS NULL"
        )


def capture_ratio(db: str, wallets: list[int], rounds: int = 6, per_round: int = 1500) -> dict[str, float]:
    on: list[float] = []
    off: list[float] = []
    with psycopg.connect(db, autocommit=True) as conn:
        for _ in range(200):  # warm caches and plans
            credit_sql(conn, wallets[0])
        for r in range(rounds):
            for capture in (False, True) if r % 2 == 0 else (True, False):
                (install if capture else uninstall)(db)
                sink = on if capture else off
                for i in range(per_round):
                    start = time.perf_counter()
                    credit_sql(conn, wallets[i % len(wallets)])
                    sink.append(time.perf_counter() - start)
    install(db)
    mark_all_handled(db)
    return {
        "write_p50_ms_capture_off": statistics.median(off) * 1e3,
        "write_p50_ms_capture_on": statistics.median(on) * 1e3,
        "write_p99_ms_capture_off": pct(off, 0.99) * 1e3,
        "write_p99_ms_capture_on": pct(on, 0.99) * 1e3,
        "write_latency_ratio_p50": statistics.median(on) / statistics.median(off),
        "writes_per_side": len(on),
    }


def throughput(db: str, bootstrap: str, wallets: list[int], events: int = 60_000) -> dict[str, float]:
    with psycopg.connect(db, autocommit=True) as conn:
        for start in range(0, events, 5000):  # many transactions, like real traffic, each captured per row
            conn.execute(
                "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status,"
                " reference, description, created_at)"
                " SELECT (%s::bigint[])[1 + g %% %s::int], 1, 100, 100, 1,"
                " '', '', now() FROM generate_series(%s::int, %s::int) g",
                (wallets, len(wallets), start, min(start + 5000, events) - 1),
            )
    relay = PythonRelay(
        PgOutboxStore(db), KafkaPublisher(bootstrap), ContractRegistry(load_contracts()), batch_size=5000
    )
    begin = time.perf_counter()
    done = 0
    while n := relay.run_once():
        done += n
    elapsed = time.perf_counter() - begin
    relay.publisher.close()
    relay.store.close()
    return {"relay_events": done, "relay_seconds": elapsed, "relay_events_per_s": done / elapsed}


def paced_writes(db: str, wallets: list[int], rate: int, seconds: float) -> tuple[list[int], float]:
    """Two writer threads sharing ``rate`` credits/s over ``wallets`` for ``seconds``.

    Returns the writes each made and the elapsed time. Used by both relay latency benches so
    they offer the same load.
    """
    writes = [0, 0]

    def writer(slot: int, mine: list[int]) -> None:
        interval = 2.0 / rate  # two writers share the rate
        with psycopg.connect(db, autocommit=True) as conn:
            next_at = time.perf_counter()
            end = next_at + seconds
            i = 0
            while time.perf_counter() < end:
                credit_sql(conn, mine[i % len(mine)])
                writes[slot] += 1
                i += 1
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)

    half = len(wallets) // 2
    threads = [
        threading.Thread(target=writer, args=(0, wallets[:half])),
        threading.Thread(target=writer, args=(1, wallets[half:])),
    ]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return writes, time.perf_counter() - begin


def latency(
    db: str, bootstrap: str, wallets: list[int], rate: int = 1000, seconds: float = 20.0
) -> dict[str, float]:
    relay = LatencyRelay(
        PgOutboxStore(db),
        KafkaPublisher(bootstrap),
        ContractRegistry(load_contracts()),
        batch_size=2000,
        poll_interval=0.05,
    )
    relay.samples = []
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,))
    relay_thread.start()
    writes, write_elapsed = paced_writes(db, wallets, rate, seconds)
    deadline = time.monotonic() + 60
    while len(relay.samples) < sum(writes) and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    relay_thread.join(30)
    relay.publisher.close()
    relay.store.close()
    samples = relay.samples[len(relay.samples) // 20 :]  # drop the first 5% (connection set-up)
    return {
        "offered_writes_per_s": rate,
        "achieved_writes_per_s": sum(writes) / write_elapsed,
        "events_measured": len(samples),
        "commit_to_ack_p50_ms": pct(samples, 0.5) * 1e3,
        "commit_to_ack_p99_ms": pct(samples, 0.99) * 1e3,
        "commit_to_ack_max_ms": max(samples) * 1e3,
    }


def main() -> None:

    console = Console()
    pg_port, kafka_port = free_port(), free_port()
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="acl-bench-")) / "data", pg_port)
    pg.start()
    tansu = subprocess.Popen(
        tansu_argv(kafka_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE acl_bench")
        db = pg.url("acl_bench")
        console.print("[dim]migrating a scratch monolith database…[/dim]")
        subprocess.run(
            [sys.executable, "-m", "monolith.manage", "migrate", "-v0"],
            cwd=REPO,
            check=True,
            env={**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": db},
        )
        install(db)
        bootstrap = f"127.0.0.1:{kafka_port}"
        ensure_topics(bootstrap, event_topics(), partitions=6)
        wallets = seed_wallets(db, 200)
        mark_all_handled(db)
        console.print("[dim]capture on/off…[/dim]")
        results: dict[str, Any] = {}
        results.update(capture_ratio(db, wallets))
        console.print("[dim]relay throughput…[/dim]")
        results.update(throughput(db, bootstrap, wallets))
        console.print("[dim]commit-to-Kafka latency at 1,000 writes/s…[/dim]")
        results.update(latency(db, bootstrap, wallets))
    finally:
        tansu.terminate()
        tansu.wait(10)
        pg.stop()
    goals = {
        "commit_to_ack_p99_ms": ("≤ 100", lambda v: v <= 100),
        "relay_events_per_s": ("≥ 10,000", lambda v: v >= 10_000),
        "write_latency_ratio_p50": ("≤ 1.10", lambda v: v <= 1.10),
    }
    table = Table(title="ACL benchmark (2-core box, embedded PostgreSQL 18, Tansu in memory)")
    for col in ("metric", "value", "goal", "met"):
        table.add_column(col)
    for key, value in results.items():
        goal = goals.get(key)
        table.add_row(
            key,
            f"{value:,.3f}" if isinstance(value, float) else f"{value:,}",
            goal[0] if goal else "",
            ("yes" if goal[1](value) else "NO") if goal else "",
        )
    console.print(table)
    out = REPO / "bench" / "results" / "acl.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cpus": os.cpu_count(),
                "results": results,
                "goals_met": {k: bool(g[1](results[k])) for k, g in goals.items()},
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
