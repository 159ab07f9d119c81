"""``manage.py sweep_orphan_payouts [--older-than 15m] [--dry-run]``: reverse orphaned payout debits.

One round of ``monolith.wallets.orphans.OrphanSweep``. ``ledger_sync`` already runs a round
every 5 minutes (``--sweep-every``); this command is for an operator who wants one now, or a
dry run to see what is there. Rounds are idempotent. Exits 1 when an orphan could not be reversed (it is tried
again next round); orphans waiting on an old transaction are reported and exit 0.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monolith.common.money import format_paise
from monolith.wallets.orphans import FAILED, OrphanSweep, Outcome
from strangler.config import parse_duration


class Command(BaseCommand):
    help = ("Reverse payout debits the ledger posted for payouts that were never created (their "
            "request died after the ledger answered and was never retried).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", default="15m", metavar="DURATION",
                            help="only debits older than this (90s, 15m, 2h; 0s for all); default 15m")
        parser.add_argument("--dry-run", action="store_true",
                            help="list the orphans and what would be done; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        text = options["older_than"]
        try:
            older_than = parse_duration(text, allow_zero=True)
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}; nothing was swept.") from exc
        outcomes = OrphanSweep().run(older_than, dry_run=options["dry_run"])
        for outcome in outcomes:
            self.stdout.write(_line(outcome))
        self.stdout.write(_summary(outcomes, text.strip(), dry_run=options["dry_run"]))
        failed = sum(o.verdict == FAILED for o in outcomes)
        if failed:
            raise CommandError(f"{failed} orphaned payout debit(s) could not be reversed (see above); "
                               "they are unchanged and the next round tries them again.")


def _line(outcome: Outcome) -> str:
    debit = outcome.debit
    return (f"{outcome.verdict:<13} payout debit {debit.transaction_id} ({debit.reference}, wallet "
            f"{debit.wallet_id}, {format_paise(debit.amount)}, {debit.created_at.isoformat()}): "
            f"{outcome.detail}")


def _summary(outcomes: list[Outcome], window: str, *, dry_run: bool) -> str:
    if not outcomes:
        return f"no orphaned payout debits older than {window}"
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.verdict] = counts.get(outcome.verdict, 0) + 1
    tally = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    mode = " (dry run)" if dry_run else ""
    return f"{len(outcomes)} orphaned payout debit(s) older than {window}{mode}: {tally}"
