"""After the write cutover: keeps the legacy tables in step with the ledger, for the monolith's readers.

Payouts, reports and the admin still read ``wallets_wallet`` and ``wallets_transaction``.
Postings the ledger makes on its own (credits, debits and transfers a client sends it
through the routing proxy) reach those tables from the ledger's events: ``sync_once``
pulls the events not yet mirrored (``GET /internal/v1/events/``, oldest id first),
mirrors each in its own transaction (``ledger_port.mirror``: idempotent, under the
posting's own id), then acknowledges them. A crash before the acknowledgement repeats a
mirror, which finds its row and does nothing. The port's own postings (payouts) were
mirrored in the payout's transaction already; their events are acknowledged the same way.

Run it as a loop: ``python -m monolith.wallets.ledger_sync`` (Django settings of the monolith).
When caught up, every ``--sweep-every`` (5 minutes) it also runs the orphaned-payout sweep
(``monolith.wallets.orphans``): debits the ledger made for payouts whose request died before
the monolith committed them, and that nobody retried, are given back.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from django.db import transaction

if TYPE_CHECKING:
    from monolith.wallets.ledger_port import LedgerPosting

_log = structlog.get_logger("monolith.ledger_sync")

# The monolith's models are imported inside the functions: ``python -m monolith.wallets.ledger_sync``
# imports this module before ``main`` has set Django up.
EVENTS_PATH = "/internal/v1/events/"
_MINOR_UNITS = {"INR": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}  # acl.domain's


def _minor(money: dict[str, str]) -> int:
    return int(Decimal(money["amount"]).scaleb(_MINOR_UNITS[money["currency"]]))


def posting_of_event(data: dict[str, Any]) -> LedgerPosting:
    """A ``paystream.wallet.credited/debited.v1`` event's data as a posting in legacy terms."""
    from monolith.wallets.ledger_port import LedgerPosting
    from monolith.wallets.models import TXN_TYPE_CHOICES

    codes = {name.lower(): code for code, name in TXN_TYPE_CHOICES}
    counterparty = data["counterparty_wallet_id"]
    return LedgerPosting(
        int(data["entry_id"]), codes[data["kind"]], _minor(data["amount"]), _minor(data["balance_after"]),
        data["reference"] or "", data["description"] or "",
        None if counterparty is None else int(counterparty),
        datetime.fromisoformat(data["posted_at"].replace("Z", "+00:00")),
        datetime.fromisoformat(data["wallet_updated_at"].replace("Z", "+00:00")),
    )


def apply_event(data: dict[str, Any]) -> None:
    """Mirror one event's posting, in its own transaction, with the wallet row locked.

    A posting a client made at the ledger (credit, debit, a transfer's legs) is announced here
    as the monolith's own write would have been: the merchant's webhook and the customer's
    e-mail, through the same inline hooks, so ``webhooks.delivery`` and
    ``notifications.email`` decide for it as for any write. Under the correlation id
    ``ledger:<posting id>``, and only when this call mirrored it: a repeated event announces
    nothing again. The port's own postings (payouts) are announced by the payout itself.
    """
    from acl.django import correlation
    from monolith.common.errors import ApiError
    from monolith.wallets.ledger_port import mirror
    from monolith.wallets.models import Transaction, Wallet

    posting = posting_of_event(data)
    with correlation(f"ledger:{posting.transaction_id}"), transaction.atomic():
        wallet = Wallet.objects.select_for_update().filter(pk=int(data["wallet_id"])).first()
        if wallet is None:
            raise ApiError("INTERNAL_ERROR", f"The ledger posted to wallet {data['wallet_id']}, which the "
                           "monolith does not have; nothing was mirrored.", 500)
        fresh = not Transaction.objects.filter(pk=posting.transaction_id).exists()
        txn = mirror(wallet, posting)
        if fresh:
            _announce(wallet, txn)


def _announce(wallet: Any, txn: Any) -> None:
    """The side effects the monolith's own credit, debit or transfer fires (``wallets.services``)."""
    from monolith.wallets import services
    from monolith.wallets.models import (
        TXN_CREDIT,
        TXN_DEBIT,
        TXN_TRANSFER_IN,
        TXN_TRANSFER_OUT,
        Transaction,
        Wallet,
    )

    if txn.txn_type == TXN_CREDIT:
        services.announce_credit(wallet, txn)
    elif txn.txn_type == TXN_DEBIT:
        services.announce_debit(wallet, txn)
    elif txn.txn_type in (TXN_TRANSFER_OUT, TXN_TRANSFER_IN) and txn.related_wallet_id is not None:
        # one announcement per transfer, when its second leg arrives (legs come oldest id first)
        other = (Transaction.objects.filter(
            wallet_id=txn.related_wallet_id, related_wallet_id=wallet.pk, amount=txn.amount,
            reference=txn.reference, created_at=txn.created_at,
            txn_type=TXN_TRANSFER_IN if txn.txn_type == TXN_TRANSFER_OUT else TXN_TRANSFER_OUT)
            .exclude(pk=txn.pk).order_by("-pk").first())
        if other is not None:
            out, into = (txn, other) if txn.txn_type == TXN_TRANSFER_OUT else (other, txn)
            source = Wallet.objects.get(pk=out.wallet_id)
            target = Wallet.objects.get(pk=into.wallet_id)
            services.announce_transfer(source, target, out, into)


def sync_once(base_url: str, token: str, *, limit: int = 100,
              transport: httpx.BaseTransport | None = None) -> int:
    """Mirror one batch of the ledger's events into the legacy tables; returns how many."""
    headers = {"Authorization": f"Service {token}"}
    with httpx.Client(base_url=base_url, transport=transport, timeout=10, headers=headers) as http:
        response = http.get(EVENTS_PATH, params={"limit": limit})
        response.raise_for_status()
        events = response.json()["events"]
        mirrored = []
        for event in events:
            try:
                apply_event(event["data"])
            except Exception as exc:  # one posting it cannot mirror must not stall every later one
                # not acknowledged: it is offered again next time, and `migrate rollback` waits for
                # it (drain_sync) and says so; the log names it for the operator
                _log.error("ledger_sync.mirror_failed", transaction_id=event.get("transaction_id"),
                           wallet_id=(event.get("data") or {}).get("wallet_id"),
                           error=f"{type(exc).__name__}: {exc}")
                continue
            mirrored.append(event["transaction_id"])
        if mirrored:
            http.post(EVENTS_PATH, json={"ack": mirrored}).raise_for_status()
    return len(mirrored)


class PeriodicSweep:
    """Runs the orphaned-payout sweep (``monolith.wallets.orphans``) every ``every`` from this
    loop: ``ledger_sync`` runs exactly while the ledger takes the monolith's writes, which is
    when orphans can appear. A failing round is logged; the next one tries again."""

    def __init__(self, every: timedelta | None, older_than: timedelta,
                 sweep: Callable[[timedelta], Sequence[Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.older_than, self.clock = every, older_than, clock
        self._sweep = sweep
        self._last: float | None = None

    def due(self) -> bool:
        if self.every is None:
            return False
        return self._last is None or self.clock() - self._last >= self.every.total_seconds()

    def maybe_run(self) -> None:
        if not self.due():
            return
        self._last = self.clock()
        try:
            outcomes = self._run(self.older_than)
        except Exception:  # the database or the ledger away: logged, tried again next round
            _log.exception("ledger_sync.orphan_sweep_failed")
            return
        if outcomes:
            _log.warning("ledger_sync.orphan_sweep", outcomes=[f"{o.verdict} {o.debit.reference}"
                                                               for o in outcomes])

    def _run(self, older_than: timedelta) -> Sequence[Any]:
        if self._sweep is not None:
            return self._sweep(older_than)
        from monolith.wallets.orphans import OrphanSweep

        return OrphanSweep().run(older_than)


def _duration(text: str) -> timedelta:
    from strangler.config import parse_duration

    try:
        return parse_duration(text, allow_zero=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monolith.wallets.ledger_sync",
                                     description="Mirror the ledger's postings into the legacy tables, and "
                                                 "sweep orphaned payout debits back now and then.")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between empty polls")
    parser.add_argument("--sweep-every", type=_duration, default=timedelta(minutes=5), metavar="DURATION",
                        help="run the orphaned-payout sweep this often (default 5m; 0s: never)")
    parser.add_argument("--sweep-older-than", type=_duration, default=timedelta(minutes=15),
                        metavar="DURATION", help="the sweep's window (default 15m): see "
                                                 "`manage.py sweep_orphan_payouts --help`")
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error(f"--interval: {args.interval} must be above 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    import django

    django.setup()
    from extracted.ledger_query.port_auth import service_token
    from strangler.config import get_settings

    args = parse_args(argv)
    settings = get_settings()
    token = service_token(settings.secret_key)
    sweep = PeriodicSweep(args.sweep_every or None, args.sweep_older_than)
    while True:
        try:
            mirrored = sync_once(settings.ledger_url, token)
        except httpx.HTTPError as exc:  # the ledger restarting or not up yet: nothing lost, try again
            print(f"ledger_sync: the ledger service did not answer ({exc}); retrying", flush=True)
            mirrored = 0
        if mirrored == 0:
            sweep.maybe_run()  # only when caught up: mirroring comes first
            time.sleep(args.interval)


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    main()
