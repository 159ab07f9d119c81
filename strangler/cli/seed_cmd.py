"""``strangler seed``: fill the monolith with a deterministic, realistic data set, fast (COPY)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from rich.table import Table

from strangler.cli.argtypes import positive_int
from strangler.config import get_settings
from strangler.errors import StranglerError
from strangler.stack.stack import Stack

console = Console()


def register(subparsers: Any) -> None:
    seed = subparsers.add_parser(
        "seed", help="fill the monolith's database with a deterministic data set (COPY, progress bar)",
        description="Fill the monolith with merchants, users, wallets, ledger transactions and "
        "payouts. Same --seed, same data. Refuses a database that already has data unless --reset. "
        "Writes the merchants' API keys to $STRANGLER_HOME/seed.json for the legacy client.",
    )
    seed.add_argument("--transactions", type=positive_int, default=100_000,
                      help="ledger transactions to create (default 100000; benchmarks use 1000000+)")
    seed.add_argument("--merchants", type=positive_int, default=10, help="merchants (default 10)")
    seed.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    seed.add_argument("--reset", action="store_true",
                      help="empty the PayStream tables first (destroys their data)")
    seed.add_argument("--capture-history", action="store_true",
                      help="let the change-capture triggers record the seeded rows too (default: "
                      "history predates the strangler, as in a real migration; publish it with "
                      "`strangler acl backfill`)")
    seed.set_defaults(handler=cmd_seed)


class _Bar:
    """Adapts the seeder's (phase, done, total) callback to one rich progress bar per phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def run_seed(transactions: int, merchants: int, seed: int, reset: bool,
             capture_history: bool = False) -> Any:
    """Seed the configured monolith database (used by ``seed`` and ``demo``); returns the report."""
    from monolith.seed import SeedError
    from monolith.seed import seed as do_seed

    settings = get_settings()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        try:
            report = do_seed(settings.monolith_database_url, transactions=transactions,
                             merchants=merchants, seed=seed, progress=_Bar(progress), reset=reset,
                             # Row triggers off (set-based FK checks instead) keeps seeded history out
                             # of the outbox; without superuser rights the seeder falls back to per-row.
                             bulk_checks=not capture_history)
        except SeedError as exc:
            raise StranglerError(str(exc)) from exc
    keys_file = settings.home / "seed.json"
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps({"api_keys": report.api_keys, "staff_username": "ops"}))
    keys_file.chmod(0o600)
    return report


def cmd_seed(args: argparse.Namespace) -> int:
    settings = get_settings()
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    try:
        stack.prepare_databases()
        report = run_seed(args.transactions, args.merchants, args.seed, args.reset,
                          args.capture_history)
    finally:
        stack.stop()
    table = Table("table", "rows", title="seeded")
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"{sum(report.counts.values()):,} rows in {report.seconds:.1f}s = "
                  f"[bold]{report.rows_per_second:,.0f} rows/s[/]; API keys in {settings.home / 'seed.json'}")
    return 0
