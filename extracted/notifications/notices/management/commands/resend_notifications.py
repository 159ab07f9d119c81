"""``manage.py resend_notifications ID...``: send uncertain or failed notifications again, on purpose."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection


class Command(BaseCommand):
    help = ("Queue notifications whose status is uncertain or failed for another send. An uncertain one "
            "may already have arrived: resend only when a duplicate is better than none.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="+", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        with connection.cursor() as cur:
            cur.execute("UPDATE notifications_notification SET status = 'retrying', next_attempt_at = now()"
                        " WHERE id = ANY(%s) AND status IN ('uncertain', 'failed') RETURNING id",
                        [options["ids"]])
            done = sorted(r[0] for r in cur.fetchall())
        refused = sorted(set(options["ids"]) - set(done))
        self.stdout.write(f"queued {done}")
        if refused:
            raise CommandError(f"{refused}: not found, or not uncertain/failed (a sent or pending "
                               "notification is never queued twice); nothing was changed for them")
