"""The monolith's one door to the ledger for its own money operations: a payout's debit and reversal.

Which ledger is behind the door is the capability ``ledger.write``'s mode for the wallet
(``strangler.capability_flags.mode_of``), read per operation:

* ``monolith`` / ``shadow``: ``LegacyLedger`` — the legacy tables, exactly as before
  (``services.refuse_debit`` and ``services.post`` on the locked wallet row);
* ``extracted``: ``RemoteLedger`` — the ledger service is the source of truth. The money
  moves there (``POST /internal/v1/wallets/{id}/postings/``, ``extracted.ledger_query.port_api``),
  refused there as it would be here; the answer is then mirrored into the legacy tables in
  the caller's transaction (the row under the ledger's id, the wallet's balance and time the
  ledger's), so payouts, reports and the admin keep reading correct balances and history.

No operation is applied twice or lost. Each remote call carries an idempotency key the
operation determines: a payout's debit is keyed by the merchant and the client's own
``Idempotency-Key`` for ``POST /payouts/`` (the only thing a retry after a crash shares
with the first attempt), a reversal by the payout id. If the process dies between the
remote call and the local commit, the local transaction rolls back; the retry sends the
same key, gets the first posting back, and adopts the payout id the first attempt
reserved (``Posted.payout_id``), so the payout and its debit line up exactly once.
A first attempt never retried leaves a debit with no payout; ``orphans`` (the
``sweep_orphan_payouts`` command) reverses it, and a retry after that gets 409
PAYOUT_DEBIT_REVERSED from the ledger, passed to the client as is, not a payout.

``FlagUnavailable`` (no control plane and no earlier answer in this process) means the
legacy tables while the ledger has never written (a monolith without the toolkit's control
plane works as it always did); once a ledger posting has reached the legacy tables, it is
not guessed around: the operation fails with a 503 and changes nothing.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import structlog
from django.db import connection

from monolith.common.errors import ApiError
from monolith.common.money import format_paise
from monolith.wallets import services
from monolith.wallets.models import TXN_PAYOUT, TXN_PAYOUT_REVERSAL, Transaction, Wallet

CAPABILITY = "ledger.write"
_log = structlog.get_logger("monolith.ledger_port")
LEDGER_ID_BASE = 10**15  # the ledger's own postings' ids start here (extracted.ledger_query.write_store)
POSTINGS_PATH = "/internal/v1/wallets/{wallet_id}/postings/"
_KINDS = {TXN_PAYOUT: "payout", TXN_PAYOUT_REVERSAL: "payout_reversal"}


@dataclass(frozen=True)
class Posted:
    transaction: Transaction  # the legacy row (for the remote ledger: its mirror)
    payout_id: int  # the payout the posting belongs to (a retry's: the first attempt's)


def payout_reference(payout_id: int) -> str:
    return f"payout:{payout_id}"


def payout_debit_key(merchant_id: int, client_key: str) -> str:
    """The ledger key of a payout's debit: stable across retries of one ``POST /payouts/``."""
    digest = hashlib.sha256(client_key.encode()).hexdigest()
    return f"payout-debit:{merchant_id}:{digest}"


def payout_reversal_key(payout_id: int) -> str:
    return f"payout-reversal:{payout_id}"


class LedgerPort(ABC):
    @abstractmethod
    def payout_debit(self, wallet: Wallet, amount: int, *, reserve_payout_id: Callable[[], int],
                     description: str, key: str) -> Posted:
        """Debit the locked ``wallet`` for a new payout, or raise the contract's refusal."""

    @abstractmethod
    def payout_reversal(self, wallet: Wallet, amount: int, *, payout_id: int,
                        description: str) -> Transaction:
        """Give a failed payout's money back to the locked ``wallet`` (never refused)."""


class LegacyLedger(LedgerPort):
    """The legacy tables, as the monolith always did it."""

    def payout_debit(self, wallet: Wallet, amount: int, *, reserve_payout_id: Callable[[], int],
                     description: str, key: str) -> Posted:
        refusal = services.refuse_debit(services.state_of(wallet), amount)
        if refusal:
            raise refusal.error()
        payout_id = reserve_payout_id()
        txn = services.post(wallet, TXN_PAYOUT, amount, reference=payout_reference(payout_id),
                            description=description)
        return Posted(txn, payout_id)

    def payout_reversal(self, wallet: Wallet, amount: int, *, payout_id: int,
                        description: str) -> Transaction:
        return services.post(wallet, TXN_PAYOUT_REVERSAL, amount, reference=payout_reference(payout_id),
                             description=description)


class RemoteLedger(LedgerPort):
    """The ledger service's write API; the answer mirrored into the legacy tables."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0,
                 after_remote_call: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.base_url, self.token = base_url.rstrip("/"), token
        self.transport, self.timeout = transport, timeout
        # fault-injection seam: runs after the ledger answered, before the caller's commit
        self.after_remote_call = after_remote_call

    def payout_debit(self, wallet: Wallet, amount: int, *, reserve_payout_id: Callable[[], int],
                     description: str, key: str) -> Posted:
        reference = payout_reference(reserve_payout_id())
        answer = self._post(wallet, TXN_PAYOUT, amount, reference, description, key)
        txn = mirror(wallet, posting_of(TXN_PAYOUT, answer))
        return Posted(txn, _payout_id(txn.reference))

    def payout_reversal(self, wallet: Wallet, amount: int, *, payout_id: int,
                        description: str) -> Transaction:
        answer = self._post(wallet, TXN_PAYOUT_REVERSAL, amount, payout_reference(payout_id), description,
                            payout_reversal_key(payout_id))
        return mirror(wallet, posting_of(TXN_PAYOUT_REVERSAL, answer))

    def _post(self, wallet: Wallet, txn_type: int, amount: int, reference: str, description: str,
              key: str) -> dict[str, Any]:
        body = {"kind": _KINDS[txn_type], "amount": format_paise(amount), "reference": reference,
                "description": description}
        headers = {"Authorization": f"Service {self.token}", "Idempotency-Key": key}
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout) as http:
                response = http.post(self.base_url + POSTINGS_PATH.format(wallet_id=wallet.pk), json=body,
                                     headers=headers)
        except httpx.HTTPError as exc:
            raise _unavailable(f"the ledger service did not answer ({type(exc).__name__})") from exc
        answer = _json(response)
        if response.status_code != 201:
            if response.status_code in (409, 422) and answer.get("status") == "error":
                # the ledger's refusals the merchant can act on (funds, frozen, key reused), as
                # the monolith's own would read
                raise ApiError(str(answer["error_code"]), str(answer["message"]), response.status_code,
                               answer.get("errors") or None)
            # anything else is this deployment's problem (token, URL, a wallet the ledger lacks),
            # not the merchant's: said to the operator, a 503 to the client
            _log.error("ledger_port.refused", status=response.status_code, wallet_id=wallet.pk,
                       error_code=answer.get("error_code"), message=answer.get("message"))
            raise _unavailable(f"the ledger service answered {response.status_code}")
        if self.after_remote_call is not None:
            self.after_remote_call(answer)
        return answer


def _unavailable(why: str) -> ApiError:
    # "nothing changed" would be untrue: the ledger may have posted before its answer was lost
    return ApiError("LEDGER_UNAVAILABLE", f"The ledger could not be reached: {why}. The request may or "
                    "may not have taken effect; retry with the same Idempotency-Key to complete it or "
                    "to read its outcome.", 503)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _paise(text: str) -> int:
    return int(Decimal(text).scaleb(2))


def _payout_id(reference: str) -> int:
    prefix, _, number = reference.partition(":")
    if prefix != "payout" or not number.isdigit():
        raise ApiError("INTERNAL_ERROR", f"The ledger's posting names no payout ({reference!r}).", 500)
    return int(number)


_MIRROR = """
    INSERT INTO wallets_transaction (id, wallet_id, txn_type, amount, balance_after, status, reference,
                                     description, related_wallet_id, created_at)
    VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s)
    ON CONFLICT (id) DO NOTHING
"""


@dataclass(frozen=True)
class LedgerPosting:
    """A posting the ledger service made, in the legacy tables' terms (paise, codes, '' for none)."""

    transaction_id: int
    txn_type: int
    amount: int
    balance_after: int
    reference: str
    description: str
    related_wallet_id: int | None
    created_at: datetime
    wallet_updated_at: datetime


def posting_of(txn_type: int, answer: dict[str, Any]) -> LedgerPosting:
    """The port endpoint's answer (legacy wire shape) as a posting."""
    row = answer["transaction"]
    return LedgerPosting(int(row["id"]), txn_type, _paise(row["amount"]), _paise(row["balance_after"]),
                         row["reference"], row["description"], row["related_wallet_id"],
                         datetime.fromisoformat(row["created_at"]),
                         datetime.fromisoformat(answer["wallet_updated_at"]))


def mirror(wallet: Wallet, posting: LedgerPosting) -> Transaction:
    """Write the ledger's posting into the legacy tables (once; a second call finds it there).

    ``wallet`` must be locked. It takes the ledger's balance and ``updated_at`` first, and only
    if this posting is its newest, so the anti-corruption layer announces the row with the
    ledger's own values, and the ledger recognises its posting by id and applies nothing.
    """
    found = Transaction.objects.filter(pk=posting.transaction_id).first()
    if found is not None:
        return found
    if not Transaction.objects.filter(wallet_id=wallet.pk, pk__gt=posting.transaction_id).exists():
        wallet.balance, wallet.updated_at = posting.balance_after, posting.wallet_updated_at
        # update(), not save(): auto_now would replace the ledger's time with this process's clock
        Wallet.objects.filter(pk=wallet.pk).update(balance=wallet.balance, updated_at=wallet.updated_at)
    with connection.cursor() as cursor:  # raw: auto_now_add would replace the ledger's created_at
        cursor.execute(_MIRROR, [posting.transaction_id, wallet.pk, posting.txn_type, posting.amount,
                                 posting.balance_after, posting.reference, posting.description,
                                 posting.related_wallet_id, posting.created_at])
    return Transaction.objects.get(pk=posting.transaction_id)


def ledger_has_written() -> bool:
    """True once a posting of the ledger service has reached the legacy tables (ids from 10^15)."""
    return Transaction.objects.filter(pk__gte=LEDGER_ID_BASE).exists()


def port_for(wallet_id: int, mode_of: Callable[[str, str | None], str] | None = None) -> LedgerPort:
    """The port the ``ledger.write`` capability selects for ``wallet_id`` now."""
    from strangler import capability_flags
    from strangler.config import get_settings

    read = mode_of or capability_flags.mode_of
    try:
        mode = read(CAPABILITY, str(wallet_id))
    except capability_flags.FlagUnavailable as exc:
        if ledger_has_written():
            raise _unavailable("the control plane could not say where the ledger is") from exc
        mode = "monolith"  # no control plane, and the ledger has never been the writer: legacy
    if mode != "extracted":
        return LegacyLedger()
    from extracted.ledger_query.port_auth import service_token

    settings = get_settings()
    return RemoteLedger(settings.ledger_url, service_token(settings.secret_key))
