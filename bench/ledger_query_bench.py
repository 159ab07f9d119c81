"""Ledger query service vs the monolith on the balance and history endpoints, and event-to-visible lag.

    python bench/ledger_query_bench.py [--transactions 50000] [--duration 10] [--lag-seconds 10]

One command, one run. Starts the local stack on free ports under a temporary
STRANGLER_HOME (embedded PostgreSQL, Tansu, the ACL relay, the monolith under
gunicorn), seeds the monolith *with capture installed* so the seeded history reaches
the ledger as events, then starts the ledger consumer and the ledger service under
gunicorn with the monolith's worker/thread counts, and waits until the ledger has
caught up. Same data on both sides.

1. Read path: for each of balance and history, at 8 and 32 concurrent clients, GET
   requests with the owning merchant's API key on random seeded wallets, against the
   monolith and against the ledger service directly: req/s and p95; the ratio is
   ledger/monolith (goal >= 2x with a lower p95). Also each service's own CPU per
   request (gunicorn master + workers, from /proc): unlike req/s it does not depend
   on whether the one-process load generator or another tenant of the host is the
   bottleneck. Database CPU is not in it.
2. Lag: credits written as the monolith writes them (lock wallet, save wallet, insert
   ledger row; one transaction each) at a paced ~1,000 events/s; a poller on the
   ledger database notes when each row becomes visible (what the API would serve).
   Event-to-visible is commit (in this process) to first seen; p50/p95/p99 (goal
   p99 <= 500 ms). The poll period (5 ms) bounds the measurement's resolution.

Prints a rich table and writes bench/results/ledger_query.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"balance": "/api/v1/wallets/{}/balance/", "history": "/api/v1/wallets/{}/transactions/"}



def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def _load(
    base: str, template: str, targets: list[tuple[str, int]], clients: int, duration: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    rng = random.Random(7)

    async def worker() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            while time.perf_counter() < deadline:
                key, wallet = rng.choice(targets)
                start = time.perf_counter()
                response = await http.get(
                    template.format(wallet), headers={"Authorization": f"Api-Key {key}"}
                )
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
    }


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of a gunicorn master and its workers so far, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # exited meanwhile
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_caught_up(monolith_db: str, ledger_db: str, timeout: float) -> float:
    """Seconds until every committed write was relayed and the consumer then found nothing pending."""
    started = time.monotonic()
    deadline = started + timeout
    with (
        psycopg.connect(monolith_db, autocommit=True) as mono,
        psycopg.connect(ledger_db, autocommit=True) as led,
    ):
        while time.monotonic() < deadline:
            pending = mono.execute(
                "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL"
            ).fetchone()
            if pending and pending[0] == 0:
                moment = datetime.now(UTC)
                while time.monotonic() < deadline:
                    row = led.execute("SELECT caught_up_at FROM ledger_sync_state WHERE id = 1").fetchone()
                    if row and row[0] and row[0] > moment:
                        return time.monotonic() - started
                    time.sleep(0.05)
            time.sleep(0.2)
    raise SystemExit(f"the ledger did not catch up within {timeout:.0f}s; see the logs under STRANGLER_HOME")


def measure_lag(
    monolith_db: str, ledger_db: str, wallets: list[int], rate: float, seconds: float, writers: int = 8
) -> dict[str, Any]:
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    lock = threading.Lock()
    stop = threading.Event()
    with psycopg.connect(ledger_db, autocommit=True) as led:
        start_row = led.execute("SELECT coalesce(max(id), 0) FROM ledger_transaction").fetchone()
    floor = int(start_row[0]) if start_row else 0

    def poll() -> None:
        # Rows become visible out of id order (wallets spread over partitions), so poll from the
        # lowest id still unseen rather than from the highest seen.
        with psycopg.connect(ledger_db, autocommit=True) as conn:
            while not stop.is_set():
                with lock:
                    unseen = [i for i in committed if i not in seen]
                low = min(unseen) - 1 if unseen else max(seen, default=floor)
                rows = conn.execute("SELECT id FROM ledger_transaction WHERE id > %s", (low,)).fetchall()
                now = time.perf_counter()
                for (txn_id,) in rows:
                    seen.setdefault(txn_id, now)
                time.sleep(0.005)

    def write(index: int) -> None:
        mine = wallets[index::writers]
        interval = writers / rate
        next_at = time.perf_counter()
        end = next_at + seconds
        with psycopg.connect(monolith_db) as conn:
            n = 0
            while next_at < end:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                wallet = mine[n % len(mine)]
                n += 1
                with conn.transaction():
                    row = conn.execute(
                        "SELECT balance FROM wallets_wallet WHERE id = %s FOR UPDATE", (wallet,)
                    ).fetchone()
                    balance = int(row[0]) + 100 if row else 100
                    conn.execute(
                        "UPDATE wallets_wallet SET balance = %s, updated_at = now() WHERE id = %s",
                        (balance, wallet),
                    )
                    txn = conn.execute(
                        "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status,"
                        " reference, description, created_at) VALUES (%s, 1, 100, %s, 1, 'bench', '', now())"
                        " RETURNING id",
                        (wallet, balance),
                    ).fetchone()
                with lock:
                    committed[int(txn[0]) if txn else -1] = time.perf_counter()
                next_at += interval

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written_for = time.perf_counter() - began
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and not set(committed) <= set(seen):
        time.sleep(0.05)
    stop.set()
    poller.join(5)
    lags = [seen[i] - c for i, c in committed.items() if i in seen]
    return {
        "events": len(committed),
        "achieved_events_per_s": round(len(committed) / written_for, 1),
        "visible": len(lags),
        "lag_p50_ms": round(percentile(lags, 50) * 1000, 1),
        "lag_p95_ms": round(percentile(lags, 95) * 1000, 1),
        "lag_p99_ms": round(percentile(lags, 99) * 1000, 1),
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--merchants", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint x clients x side")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--lag-rate", type=float, default=1000.0, help="events per second for the lag run")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ledger_query.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="strangler-ledger-bench-"))
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    os.environ.update(
        {
            "STRANGLER_HOME": str(home),
            "STRANGLER_PG_PORT": str(free_port()),
            "STRANGLER_MONOLITH_PORT": str(free_port()),
            "STRANGLER_KAFKA_PORT": str(free_port()),
            "STRANGLER_LOG_LEVEL": "WARNING",
        }
    )
    from strangler.cli.seed_cmd import run_seed
    from strangler.config import get_settings
    from strangler.stack.processes import ManagedProcess
    from strangler.stack.stack import Stack

    console = Console(width=200)
    settings = get_settings()
    say = lambda line: console.print(line, highlight=False)  # noqa: E731
    stack = Stack(settings, say=say)
    ledger_port = free_port()
    ledger_url = f"http://127.0.0.1:{ledger_port}"
    rows: list[dict[str, Any]] = []
    try:
        stack.start(with_kafka=True, with_worker=False)  # installs capture before the seed writes
        subprocess.run(
            [sys.executable, "-m", "extracted.ledger_query.manage", "migrate", "-v0"],
            check=True,
            cwd=ROOT,
            timeout=300,
        )
        # row triggers on: the seeded history flows through capture and the relay as events
        seeded = run_seed(args.transactions, args.merchants, 42, reset=True, capture_history=True)
        env = {"STRANGLER_HOME": str(home)}
        for process, description in (
            (
                ManagedProcess(
                    "consumer",
                    [sys.executable, "-m", "extracted.ledger_query.consume"],
                    settings.log_dir / "consumer.log",
                    lambda: True,
                    env,
                ),
                "ledger consumer",
            ),
            (
                ManagedProcess(
                    "ledger",
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "extracted.ledger_query.wsgi:application",
                        "--bind",
                        f"127.0.0.1:{ledger_port}",
                        "--workers",
                        str(settings.monolith_workers),
                        "--threads",
                        str(settings.monolith_threads),
                        "--worker-class",
                        "gthread",
                        "--keep-alive",
                        "5",
                    ],
                    settings.log_dir / "ledger.log",
                    _http_ok(f"{ledger_url}/readyz"),
                    env,
                ),
                f"ledger query service on {ledger_url}",
            ),
        ):
            stack._spawn(process, description)
        pids = {p.name: p.popen.pid for p in stack.processes if p.popen is not None}
        caught_up_s = wait_caught_up(settings.monolith_database_url, settings.ledger_database_url, 900)
        say(f"ledger caught up with the seeded history {caught_up_s:.1f}s after the consumer started")
        with psycopg.connect(settings.monolith_database_url) as conn:
            owners = conn.execute("SELECT id, merchant_id FROM wallets_wallet ORDER BY id").fetchall()
            merchant_ids = [m for (m,) in conn.execute("SELECT id FROM accounts_merchant ORDER BY id")]
        key_of = dict(zip(merchant_ids, seeded.api_keys, strict=True))
        targets = [(key_of[m], w) for w, m in owners]
        for endpoint, template in ENDPOINTS.items():
            for clients in (int(c) for c in args.clients.split(",")):
                sides = {}
                for side, url, pid in (("monolith", settings.monolith_url, pids["monolith"]),
                                       ("ledger", ledger_url, pids["ledger"])):
                    cpu_before = server_cpu_seconds(pid)
                    sides[side] = asyncio.run(_load(url, template, targets, clients, args.duration))
                    # client-independent: what one request costs the service's processes
                    cpu = server_cpu_seconds(pid) - cpu_before
                    sides[side]["cpu_ms_per_req"] = round(cpu * 1000 / max(1, sides[side]["requests"]), 2)
                rows.append(
                    {
                        "endpoint": endpoint,
                        "clients": clients,
                        **{
                            f"{side}_{k}": v
                            for side, r in sides.items()
                            for k, v in r.items()
                            if k in ("req_per_s", "p95_ms", "errors", "cpu_ms_per_req")
                        },
                        "rps_ratio": round(sides["ledger"]["req_per_s"] / sides["monolith"]["req_per_s"], 2),
                        "p95_ratio": round(sides["ledger"]["p95_ms"] / sides["monolith"]["p95_ms"], 2),
                    }
                )
        lag = measure_lag(
            settings.monolith_database_url,
            settings.ledger_database_url,
            [w for w, _ in owners],
            args.lag_rate,
            args.lag_seconds,
        )
    finally:
        stack.stop()

    table = Table(
        title=f"ledger query vs monolith, {args.transactions:,} seeded transactions, "
        f"{settings.monolith_workers} gunicorn workers x {settings.monolith_threads} threads each"
    )
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    lag_table = Table(
        title=f"event-to-visible lag at {args.lag_rate:.0f} events/s for {args.lag_seconds:.0f}s"
    )
    for column in lag:
        lag_table.add_column(column, justify="right")
    lag_table.add_row(*(str(v) for v in lag.values()))
    console.print(lag_table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "transactions": args.transactions,
                "duration_s": args.duration,
                "cpu_count": os.cpu_count(),
                "note": "one run on a shared, noisy machine; client, servers and databases on the same host",
                "catch_up_after_seed_s": round(caught_up_s, 1),
                "read_path": rows,
                "lag": lag,
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}")
    return 0


def _http_ok(url: str) -> Any:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


if __name__ == "__main__":
    sys.exit(main())
