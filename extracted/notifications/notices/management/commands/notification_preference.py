"""``manage.py notification_preference CUSTOMER --channel sms --kind '*' --on|--off [--locale hi]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from extracted.notifications.domain import ALL_KINDS, CHANNELS, parse_preference


class Command(BaseCommand):
    help = "Opt a customer in or out of a channel (per kind or for every kind), and/or set their locale."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer_id", type=int)
        parser.add_argument("--channel", choices=CHANNELS)
        parser.add_argument("--kind", default=ALL_KINDS, help="a notification kind, or * (default)")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--on", dest="enabled", action="store_true", default=None)
        state.add_argument("--off", dest="enabled", action="store_false")
        parser.add_argument("--locale", help="e.g. hi or pt-BR; templates fall back to the default locale")

    def handle(self, *args: Any, **options: Any) -> None:
        customer, channel, enabled = options["customer_id"], options["channel"], options["enabled"]
        if (channel is None) != (enabled is None) or (channel is None and not options["locale"]):
            raise CommandError("give --channel with --on or --off, and/or --locale; nothing was changed")
        with connection.cursor() as cur:
            if channel is not None:
                try:
                    rule = parse_preference(options["kind"], channel, bool(enabled))
                except ValueError as exc:
                    raise CommandError(f"{exc}; nothing was changed") from None
                cur.execute("INSERT INTO notifications_preference (customer_id, kind, channel, enabled)"
                            " VALUES (%s, %s, %s, %s) ON CONFLICT (customer_id, kind, channel)"
                            " DO UPDATE SET enabled = EXCLUDED.enabled",
                            [customer, rule.kind, rule.channel, rule.enabled])
            if options["locale"]:
                cur.execute("INSERT INTO notifications_locale (customer_id, locale) VALUES (%s, %s)"
                            " ON CONFLICT (customer_id) DO UPDATE SET locale = EXCLUDED.locale",
                            [customer, options["locale"]])
        self.stdout.write(f"customer {customer}: saved")
