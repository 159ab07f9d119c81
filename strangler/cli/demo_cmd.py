"""``strangler demo``: the main job. Stack up, seed, legacy client, load, summary.

Later issues extend it to the whole strangling of a capability; today it shows
the starting point every migration is measured against: the monolith alone.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from strangler.cli.argtypes import positive_float, positive_int
from strangler.cli.client_cmds import run_scenario_and_print
from strangler.cli.seed_cmd import run_seed
from strangler.config import get_settings
from strangler.stack.stack import Stack

console = Console()


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job: bring the stack up, seed it, run the legacy client, summarise",
        description="Bring the stack up on embedded defaults (or what STRANGLER_* configures), seed "
        "the monolith (replacing earlier demo data), run the legacy client's scenario and a short "
        "load, print a summary and stop the stack. Exits non-zero if the client saw a failure.",
    )
    demo.add_argument("--transactions", type=positive_int, default=100_000, help="seed size (default 100000)")
    demo.add_argument("--concurrency", type=positive_int, default=8, help="load clients (default 8)")
    demo.add_argument("--duration", type=positive_float, default=10.0, help="load seconds (default 10)")
    demo.add_argument("--keep-running", action="store_true",
                      help="leave the stack running afterwards (Ctrl-C stops it)")
    demo.set_defaults(handler=cmd_demo)


def wait_for_outbox_drain(database_url: str, timeout: float) -> tuple[int, int]:
    """(captured, not yet handled) outbox rows, once the relay has caught up or time is out."""
    import psycopg

    from acl.install import SCHEMA

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE outcome IS NULL) "
                               f"FROM {SCHEMA}.outbox").fetchone()
            captured, pending = (int(row[0]), int(row[1])) if row else (0, 0)
            if pending == 0 or time.monotonic() > deadline:
                return captured, pending
            time.sleep(0.2)


def cmd_demo(args: argparse.Namespace) -> int:
    from legacy_client import run_load

    settings = get_settings()
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    started = time.monotonic()
    try:
        console.rule("1. the stack")
        stack.start()
        console.rule("2. seed the monolith")
        seeded = run_seed(args.transactions, 10, 42, reset=True)
        console.print(f"{sum(seeded.counts.values()):,} rows at {seeded.rows_per_second:,.0f} rows/s")
        console.rule("3. the legacy client's scenario")
        transcript = run_scenario_and_print(settings.monolith_url, seeded.api_keys[0])
        console.rule(f"4. load: {args.concurrency} clients for {args.duration:.0f}s")
        load = run_load(settings.monolith_url, api_keys=seeded.api_keys,
                        concurrency=args.concurrency, duration_s=args.duration)
        console.print(load.table())
        # 0 = no answer at all; 5xx = the server failed. Both are client-visible failures.
        server_errors = sum(n for status, n in load.errors.items() if status == 0 or status >= 500)
        captured, unpublished = wait_for_outbox_drain(settings.monolith_database_url, timeout=60)
        summary = Table("", "", title="strangler demo — summary", show_header=False)
        summary.add_row("stack", ", ".join(stack.log_paths()))
        summary.add_row("seeded", f"{sum(seeded.counts.values()):,} rows "
                        f"({seeded.rows_per_second:,.0f} rows/s)")
        summary.add_row("scenario", f"{len(transcript.exchanges)} requests, "
                        f"{len(transcript.failures)} failed")
        summary.add_row("load", f"{load.requests:,} requests, {load.requests_per_second:,.0f} req/s, "
                        f"p95 {load.latency.p95_ms:.1f} ms, server errors {server_errors}")
        summary.add_row("events", f"{captured:,} writes captured by the anti-corruption layer, "
                        f"{unpublished:,} not yet on Kafka")
        summary.add_row("logs", str(settings.log_dir))
        summary.add_row("took", f"{time.monotonic() - started:.0f}s")
        console.print(summary)
        ok = transcript.ok and server_errors == 0 and unpublished == 0
        console.print("[bold green]demo passed[/]" if ok else "[bold red]demo found failures[/]")
        if args.keep_running:
            console.print(f"stack still running at {settings.monolith_url}; Ctrl-C stops it")
            stack.watch()
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
