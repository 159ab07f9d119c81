"""``python -m extracted.webhooks.manage webhooks_parity --monolith-database-url URL [--minutes 60]``

Prints, per occurrence and endpoint, what the monolith's inline path delivered against what
this service would have delivered (shadow mode), then the totals. Exit code 1 with
``--fail-on-difference`` when any pair differs, or when there was nothing to compare (no
evidence is not parity), for CI or a gate's evidence.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from extracted.webhooks import parity
from extracted.webhooks.config import get_config
from strangler.cli.argtypes import non_negative_int, positive_float


class Command(BaseCommand):
    help = "Compare the monolith's inline webhook deliveries with what this service would deliver."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--monolith-database-url", help="default: STRANGLER_MONOLITH_DATABASE_URL")
        parser.add_argument("--minutes", type=positive_float, default=60.0,
                            help="look back this far (default 60)")
        parser.add_argument("--show", type=non_negative_int, default=50, help="rows of differences to print")
        parser.add_argument("--all", action="store_true", help="print matching pairs too")
        parser.add_argument("--fail-on-difference", action="store_true",
                            help="exit 1 on any difference, or when nothing was compared")

    def handle(self, *args: Any, **options: Any) -> None:
        from strangler.config import get_settings

        since = timezone.now() - timedelta(minutes=options["minutes"])
        monolith = options["monolith_database_url"] or get_settings().monolith_database_url
        try:
            result = parity.compare(parity.load_legacy(monolith, since),
                                    parity.load_service(get_config().database_url, since))
        except Exception as exc:  # a database we cannot read: say which, change nothing
            raise CommandError(f"cannot read the deliveries to compare: {exc}") from exc
        console = Console()
        table = Table("occurrence", "endpoint", "monolith", "service", "result",
                      title=f"webhook parity, last {options['minutes']:g} min")
        shown = [p for p in result.pairs if options["all"] or not p.matches][: options["show"]]
        for p in shown:
            table.add_row(p.occurrence, p.url, p.legacy.event if p.legacy else "—",
                          f"{p.service.event_name} ({p.service.status})" if p.service else "—",
                          "[green]match[/]" if p.matches else "[red]" + "; ".join(p.differences) + "[/]")
        console.print(table)
        console.print(f"{result.matched} matching, {len(result.differing)} differing, {result.new} new in "
                      f"the service (no legacy counterpart), {len(result.unreadable)} unreadable")
        for line in result.unreadable[:10]:
            console.print(f"[yellow]{line}[/]")
        if options["fail_on_difference"] and (result.differing or not result.pairs):
            if not result.pairs:  # no evidence is not parity
                console.print(f"[red]nothing was compared in the last {options['minutes']:g} min:[/] is "
                              "webhooks.delivery in shadow mode, and have merchants' events happened since?")
            raise SystemExit(1)
