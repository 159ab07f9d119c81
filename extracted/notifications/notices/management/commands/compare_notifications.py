"""``manage.py compare_notifications``: shadow-mode e-mails, the monolith's against this service's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extracted.notifications.compare import compare
from extracted.notifications.config import get_config
from strangler.cli.argtypes import positive_float


class Command(BaseCommand):
    help = ("Compare what the monolith e-mailed in shadow mode with what this service would have sent, "
            "per correlation id; prints matches and every difference.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=positive_float, default=24.0,
                            help="look back this far (default 24)")
        parser.add_argument("--legacy-database-url",
                            help="the monolith's (default STRANGLER_MONOLITH_DATABASE_URL)")
        parser.add_argument("--fail-on-difference", action="store_true",
                            help="exit non-zero on any difference, or when nothing was compared")

    def handle(self, *args: Any, **options: Any) -> None:
        config = get_config()
        until = datetime.now(UTC)
        results = compare(options["legacy_database_url"] or config.legacy_database_url, config.database_url,
                          until - timedelta(hours=options["hours"]), until)
        differing = [r for r in results if not r.matches]
        for result in differing:
            cid, customer, kind = result.key
            self.stdout.write(f"DIFFERS {cid} customer {customer} {kind}:")
            for line in result.differences:
                self.stdout.write(f"    {line}")
        self.stdout.write(f"{len(results) - len(differing)} match, {len(differing)} differ "
                          f"(of {len(results)} shadowed notifications)")
        if not options["fail_on_difference"]:
            return
        if differing:
            raise CommandError(f"{len(differing)} shadowed notification(s) differ from the monolith's")
        if not results:  # no evidence is not parity
            raise CommandError(f"nothing was compared in the last {options['hours']:g} h: is "
                               "notifications.email in shadow mode, and have customers been notified since?")
