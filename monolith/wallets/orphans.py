"""Payout debits no payout will ever pay out, found and given back to their wallets.

After the write cutover a payout's debit is posted at the ledger service and mirrored, with
the payout row, in the monolith's transaction (``ledger_port.RemoteLedger``). If that
transaction dies after the ledger posted and the client never retries, the ledger holds a
debit without a payout: the merchant's money is gone and nothing will pay it out. A retry
would have adopted it; this sweep is for the retry that never comes.

An orphan is a payout debit (``TXN_PAYOUT``, a ledger id, reference ``payout:<id>``) older
than a window (15 min by default: far longer than any payout request, retries included) with
no payout of that id and no reversal of that reference. Each is reversed through the port
(``payout_reversal``: ledger key ``payout-reversal:<id>``, the key a failed payout's reversal
would use, so a repeated sweep or a crash mid-way posts it once) in its own transaction, with
the wallet row locked and the two conditions checked again under the lock. After that the
ledger answers a late retry of the payout 409 PAYOUT_DEBIT_REVERSED (``port_api``) instead of
handing the debit back to be adopted.

Why the candidates come from the legacy mirror, not the ledger: the payouts are the monolith's,
the check ("no payout of that id") is a join in its own database, and the ledger has no API
that lists postings. An orphan's debit reaches the mirror only through ``ledger_sync`` (its
payout's transaction, which would have mirrored it, died), so it is found once ``ledger_sync``
has mirrored it: seconds behind, well inside the window; while ``ledger_sync`` is down orphans
wait for it, none is lost (its events stay unacknowledged).

Why it waits for old transactions: the payout's own transaction began before its debit was
posted. While any transaction on this database that began before a candidate's debit is still
open, that candidate waits (the round reports it with the sessions' pids): it may be that
payout, about to commit. The wallet lock already orders a live payout transaction before the
reversal (it holds that lock from before the ledger call to its commit); this guard also
covers what holds no lock. ``CLOCK_MARGIN`` absorbs skew between the ledger's clock (the
debit's time) and the database's (``xact_start``). A session this role may not inspect counts
as open: grant the role ``pg_read_all_stats`` if that keeps the sweep waiting.

Each reversal is logged (``orphans.reversed``) and is its own record, in the ledger and the
legacy tables, with a description naming the debit and the payout that was never created.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.db import connection, transaction
from django.utils import timezone

from monolith.common.errors import ApiError
from monolith.payouts.models import Payout
from monolith.wallets import ledger_port
from monolith.wallets.models import TXN_PAYOUT, TXN_PAYOUT_REVERSAL, Transaction, Wallet

_log = structlog.get_logger("monolith.orphans")
DEFAULT_WINDOW = timedelta(minutes=15)
_REFERENCE = re.compile(r"^payout:([0-9]{1,18})$")

REVERSED, WOULD_REVERSE, WAITING, RESOLVED, FAILED = (
    "reversed", "would reverse", "waiting", "resolved", "failed")


@dataclass(frozen=True)
class OrphanDebit:
    """A payout debit with no payout and no reversal (as of the query that found it)."""

    transaction_id: int
    wallet_id: int
    payout_id: int
    amount: int  # paise
    created_at: datetime

    @property
    def reference(self) -> str:
        return ledger_port.payout_reference(self.payout_id)

    def reversal_description(self) -> str:
        # fixed by the debit alone: a repeated reversal (same ledger key) must fingerprint the same
        return (f"Reversal of orphaned payout debit {self.transaction_id}: payout {self.payout_id} "
                "was never created")


@dataclass(frozen=True)
class OpenTransaction:
    pid: int
    xact_start: datetime | None  # None: this role may not see the session's transaction


@dataclass(frozen=True)
class Outcome:
    debit: OrphanDebit
    verdict: str  # REVERSED, WOULD_REVERSE, WAITING, RESOLVED or FAILED
    detail: str


def holding(debit: OrphanDebit, sessions: Sequence[OpenTransaction],
            margin: timedelta) -> list[OpenTransaction]:
    """The open transactions that may be ``debit``'s own payout transaction (began before it)."""
    return [s for s in sessions if s.xact_start is None or s.xact_start < debit.created_at + margin]


def describe(sessions: Sequence[OpenTransaction]) -> str:
    return ", ".join(f"pid {s.pid} (since {s.xact_start.isoformat()})" if s.xact_start
                     else f"pid {s.pid} (not visible to this role)" for s in sessions)


_CANDIDATES = """
SELECT t.id, t.wallet_id, t.amount, t.reference, t.created_at
  FROM wallets_transaction t
 WHERE t.txn_type = %(payout)s AND t.id >= %(base)s AND t.created_at < %(cutoff)s
   AND t.reference ~ '^payout:[0-9]{1,18}$'
   AND NOT EXISTS (SELECT 1 FROM payouts_payout p  -- CASE: the cast runs only on a matching reference
                    WHERE p.id = CASE WHEN t.reference ~ '^payout:[0-9]{1,18}$'
                                      THEN substr(t.reference, 8)::bigint END)
   AND NOT EXISTS (SELECT 1 FROM wallets_transaction r
                    WHERE r.wallet_id = t.wallet_id AND r.txn_type = %(reversal)s
                      AND r.reference = t.reference)
 ORDER BY t.id
"""
# state IS NULL: a session of another role this one may not inspect (its transaction unknown)
_OPEN = """
SELECT pid, xact_start FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND coalesce(backend_type, 'client backend') = 'client backend'
   AND (xact_start IS NOT NULL OR state IS NULL)
"""


CLOCK_MARGIN = timedelta(seconds=5)


class OrphanSweep:
    """Sweep rounds over the monolith's database."""

    def __init__(self, *, clock: Callable[[], datetime] = timezone.now,
                 margin: timedelta = CLOCK_MARGIN) -> None:
        self.clock, self.margin = clock, margin

    def candidates(self, older_than: timedelta) -> list[OrphanDebit]:
        cutoff = self.clock() - older_than
        with connection.cursor() as cursor:
            cursor.execute(_CANDIDATES, {"payout": TXN_PAYOUT, "reversal": TXN_PAYOUT_REVERSAL,
                                         "base": ledger_port.LEDGER_ID_BASE, "cutoff": cutoff})
            rows = cursor.fetchall()
        return [OrphanDebit(txn_id, wallet_id, _payout_id(reference), amount, created_at)
                for txn_id, wallet_id, amount, reference, created_at in rows]

    def open_transactions(self) -> list[OpenTransaction]:
        with connection.cursor() as cursor:
            cursor.execute(_OPEN)
            return [OpenTransaction(pid, started) for pid, started in cursor.fetchall()]

    def run(self, older_than: timedelta = DEFAULT_WINDOW, *, dry_run: bool = False) -> list[Outcome]:
        """Reverse every orphan older than ``older_than`` (``dry_run``: only say what would be done)."""
        debits = self.candidates(older_than)
        if not debits:
            return []
        sessions = self.open_transactions()  # after the candidates: a later one began after them
        outcomes = []
        for debit in debits:
            blockers = holding(debit, sessions, self.margin)
            if blockers:
                outcome = Outcome(debit, WAITING, f"transactions open since before it: {describe(blockers)}")
                _log.info("orphans.waiting", transaction_id=debit.transaction_id, payout_id=debit.payout_id,
                          pids=[s.pid for s in blockers])
            elif dry_run:
                outcome = Outcome(debit, WOULD_REVERSE, "dry run: nothing changed")
            else:
                outcome = self.reverse(debit)
            outcomes.append(outcome)
        return outcomes

    def reverse(self, debit: OrphanDebit) -> Outcome:
        """Give one orphan's money back, in its own transaction, its wallet locked."""
        try:
            with transaction.atomic():
                wallet = Wallet.objects.select_for_update().get(pk=debit.wallet_id)
                # under the lock: a payout transaction that held it has committed or died by now
                if Payout.objects.filter(pk=debit.payout_id).exists():
                    return Outcome(debit, RESOLVED, f"payout {debit.payout_id} exists now; left alone")
                if Transaction.objects.filter(wallet_id=wallet.pk, txn_type=TXN_PAYOUT_REVERSAL,
                                              reference=debit.reference).exists():
                    return Outcome(debit, RESOLVED, "reversed meanwhile; left alone")
                reversal = ledger_port.port_for(wallet.pk).payout_reversal(
                    wallet, debit.amount, payout_id=debit.payout_id,
                    description=debit.reversal_description())
        except ApiError as exc:
            _log.error("orphans.reversal_failed", transaction_id=debit.transaction_id,
                       payout_id=debit.payout_id, wallet_id=debit.wallet_id, error_code=exc.error_code,
                       message=exc.message)
            return Outcome(debit, FAILED, f"{exc.error_code}: {exc.message}")
        _log.warning("orphans.reversed", transaction_id=debit.transaction_id, payout_id=debit.payout_id,
                     wallet_id=debit.wallet_id, amount=debit.amount, reversal_id=reversal.pk,
                     debit_created_at=debit.created_at.isoformat())
        return Outcome(debit, REVERSED, f"credited back as transaction {reversal.pk}")


def _payout_id(reference: str) -> int:
    found = _REFERENCE.match(reference)
    if found is None:  # the query matched the same pattern
        raise ValueError(f"{reference!r} names no payout")
    return int(found.group(1))
