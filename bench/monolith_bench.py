"""Monolith throughput and latency on the legacy client's mix at 1, 8 and 32 clients.

This is the baseline that the routing proxy and the extracted services are later
compared against. The named baseline inside this run is the same gunicorn serving
``/healthz`` (no database, no auth) at the same concurrency: the ratio says how much
of the server's capacity the legacy API's own work costs.

    python bench/monolith_bench.py [--transactions 1000000] [--duration 15]

Starts its own embedded PostgreSQL and monolith on free ports under a temporary
STRANGLER_HOME, prints a table and writes bench/results/monolith.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent



async def _floor(url: str, concurrency: int, duration: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        async with httpx.AsyncClient() as client:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), sorted(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "monolith.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="strangler-bench-"))
    os.environ.update({
        "STRANGLER_HOME": str(home), "STRANGLER_PG_PORT": str(free_port()),
        "STRANGLER_MONOLITH_PORT": str(free_port()), "STRANGLER_LOG_LEVEL": "WARNING",
    })
    from legacy_client import run_load
    from legacy_client.stats import percentile
    from strangler.cli.seed_cmd import run_seed
    from strangler.config import get_settings
    from strangler.stack.stack import Stack

    console = Console(width=200)
    settings = get_settings()
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    rows = []
    try:
        stack.start(with_kafka=False, with_worker=False)
        seeded = run_seed(args.transactions, 10, 42, reset=True)
        for clients in (int(c) for c in args.clients.split(",")):
            report = run_load(settings.monolith_url, api_keys=seeded.api_keys,
                              concurrency=clients, duration_s=args.duration)
            count, lat = asyncio.run(_floor(f"{settings.monolith_url}/healthz", clients, args.duration / 3))
            floor_rps = count / (args.duration / 3)
            rows.append({
                "clients": clients,
                "requests": report.requests,
                "errors": report.error_count,
                "req_per_s": round(report.requests_per_second, 1),
                "p50_ms": round(report.latency.p50_ms, 2),
                "p95_ms": round(report.latency.p95_ms, 2),
                "p99_ms": round(report.latency.p99_ms, 2),
                "baseline_healthz_req_per_s": round(floor_rps, 1),
                "baseline_healthz_p50_ms": round(percentile(lat, 50) * 1000, 2),
                "ratio_to_baseline": round(report.requests_per_second / floor_rps, 3),
            })
    finally:
        stack.stop()

    table = Table(title=f"monolith, legacy client mix, {args.transactions:,} seeded transactions, "
                        f"{settings.monolith_workers} gunicorn workers x {settings.monolith_threads} threads")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "transactions": args.transactions, "duration_s": args.duration,
        "seed_rows_per_s": None if not rows else round(seeded.rows_per_second),
        "cpu_count": os.cpu_count(), "results": rows,
    }, indent=2))
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
