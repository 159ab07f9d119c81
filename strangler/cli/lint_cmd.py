"""``strangler lint-migrations``: refuse migrations that would lock a big table for long."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from strangler.stack.stack import Stack

console = Console()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lint-migrations",
        help="check the monolith's migrations for long locks on large tables; suggest expand/contract",
        description="Renders each of the monolith's Django migrations to SQL, runs the squawk "
        "PostgreSQL migration linter on it, and reports statements that would hold a long lock on "
        "a table that already has rows (index without CONCURRENTLY, column type rewrite, "
        "constraint without NOT VALID, column rename...). Tables created in the same migration are "
        "skipped; tables below --large-table-rows are reported as info. Exit 1 on any error.",
    )
    p.add_argument("migrations", nargs="*", metavar="APP.NAME",
                   help="only these migrations, e.g. wallets.0002_add_reference_index (default: all)")
    p.add_argument("--large-table-rows", type=int, default=100_000,
                   help="estimated rows from which a long lock is an error (default 100000)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_lint)


def cmd_lint(args: argparse.Namespace) -> int:
    from strangler.config import get_settings

    stack = Stack(get_settings(), say=lambda line: None)
    try:
        stack.prepare_databases()
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
        import django

        django.setup()
        from migrations.lint.collect import lint
        from migrations.lint.findings import Severity

        findings = lint(only=args.migrations, large_table_rows=args.large_table_rows)
    finally:
        stack.stop()
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if args.format == "json":
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    elif not findings:
        console.print("[green]no long-lock operations found[/]")
    else:
        table = Table("migration", "table (rows)", "problem", "instead", title="lint-migrations",
                      show_lines=True)
        for f in findings:
            colour = "red" if f.severity is Severity.ERROR else "yellow"
            rows = "unknown" if f.rows is None else f"{f.rows:,}"
            table.add_row(f"{f.app}.{f.migration}", f"{f.table} ({rows})",
                          f"[{colour}]{f.rule.title}[/]\nblocks {f.rule.blocks}", f.rule.instead)
        console.print(table)
    return 1 if errors else 0
