"""The legacy credit, debit and transfer endpoints, served by the ledger (the write path).

Same contract as ``monolith.wallets.views`` byte for byte: the request bodies, the order
in which errors are decided (auth, Idempotency-Key, JSON, wallet 404, body 400, rule 409),
the error bodies, the response shape, and Idempotency-Key semantics (same key and body:
the stored response again; same key, other body: 422 IDEMPOTENCY_KEY_REUSED; a 4xx is
never stored). What differs on purpose: posting ids come from ``ledger_write_txn_id_seq``
(``write_store.WRITE_ID_BASE`` and up), so they never collide with the monolith's.

Correct under concurrency as the monolith is: the rule checks run on wallet rows locked
``FOR UPDATE`` (a transfer locks both in id order) and the balance moves in the same
transaction as the posting.

Shadowed writes (``X-Strangler-Shadow``) are dry runs (``shadow.dryrun.dry_run``): the
whole request runs in a transaction that is rolled back, and the domain events the
postings would have published are handed to ``shadow.dryrun.would_publish``.

The class names are the monolith's on purpose (DRF shows them in OPTIONS responses), so
these classes carry comments, not docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions, generics, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from extracted.ledger_query import wire, write_rules, write_store
from extracted.ledger_query.ledger.models import LedgerTransaction
from extracted.ledger_query.views import _merchant_id
from monolith.common.errors import ApiError, not_found
from monolith.common.fields import AmountField, StrictCharField, StrictIdField
from monolith.common.idempotency import key_reused, request_fingerprint, validate_key
from shadow.dryrun import dry_run, in_dry_run, would_publish
from shadow.side_effects import Effect

WriteResult = tuple[int, Any]
PORT_MERCHANT = 0  # port_api.PORT_NAMESPACE: the merchant column of the monolith port's keys


# The bodies of monolith.wallets.serializers (which imports the monolith's models), restated;
# tests/extracted/ledger_query/test_write_rules.py checks the fields are the same.
class MovementSerializer(serializers.Serializer[Any]):
    amount = AmountField()
    reference = StrictCharField(required=False, allow_blank=True, max_length=64, default="")
    description = StrictCharField(required=False, allow_blank=True, max_length=255, default="")


class TransferSerializer(serializers.Serializer[Any]):
    from_wallet_id = StrictIdField()
    to_wallet_id = StrictIdField()
    amount = AmountField()
    reference = StrictCharField(required=False, allow_blank=True, max_length=64, default="")


def json_body(request: Request) -> dict[str, Any]:
    """``monolith.common.api.json_body``: the JSON object of a write, or the contract's 415/400."""
    has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
    if has_body and not request.content_type:
        raise exceptions.UnsupportedMediaType("")
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["The request body must be a JSON object."]})
    return data


def validated(serializer_class: type[serializers.Serializer[Any]], body: dict[str, Any]) -> dict[str, Any]:
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def locked_limit() -> int:
    # getattr: the type checker reads the monolith's settings, where this name does not exist
    return int(getattr(settings, "LEDGER_MIN_KYC_BALANCE_LIMIT", 10_000_00))


def _raise(refusal: write_rules.Refusal | None) -> None:
    if refusal is not None:
        raise ApiError(refusal.error_code, refusal.message, refusal.status)


def _owned(merchant_id: int, wallet_id: int, *, lock: bool = False) -> write_rules.WalletState:
    state = write_store.wallet(merchant_id, wallet_id, lock=lock)
    if state is None:
        raise not_found(f"Wallet {wallet_id}")
    return state


class _Row:
    """A posting in the attribute names ``wire.transaction`` reads from a ledger row."""

    def __init__(self, transaction_id: int, posting: write_rules.Posting, created_at: Any) -> None:
        self.id = transaction_id
        self.wallet_id = posting.wallet_id
        self.kind = posting.kind
        signed = posting.amount if posting.inbound else -posting.amount
        self.amount = write_rules.to_major(signed, posting.currency)
        self.currency = posting.currency
        self.status = "posted"
        self.reference = posting.reference
        self.description = posting.description
        self.counterparty_wallet_id = posting.counterparty_wallet_id
        self.balance_after = write_rules.to_major(posting.balance_after, posting.currency)
        self.created_at = created_at


def apply(posting: write_rules.Posting, request_id: str | None) -> dict[str, Any]:
    """Write one posting (its wallet locked) and return its legacy wire shape."""
    return apply_posting(posting, request_id)[0]


def apply_posting(posting: write_rules.Posting, request_id: str | None) -> tuple[dict[str, Any], datetime]:
    """Write one posting (its wallet locked): its legacy wire shape, and the wallet's new ``updated_at``."""
    # the monolith saves the wallet (updated_at) a moment before it creates the row (created_at)
    wallet_updated_at = timezone.now()
    created_at = timezone.now()
    transaction_id, (event_type, data) = write_store.record_posting(
        posting, wallet_updated_at=wallet_updated_at, created_at=created_at, correlation_id=request_id)
    would_publish(Effect(event_type, f"wallet:{posting.wallet_id}", data))
    row = wire.transaction(cast(LedgerTransaction, _Row(transaction_id, posting, created_at)))
    return row, wallet_updated_at


def gate(request_id: str | None, *, wait: bool = True) -> None:
    """The write cutover's hold (``write_store.pass_gate``), in the caller's transaction.

    A shadow copy never commits and passes. A write the gate held past its bound, or one
    that reached the ledger while the monolith is the writer, is a 503 that names the
    request and changes nothing; the client retries it (same Idempotency-Key) through the proxy.
    """
    if in_dry_run():
        return
    try:
        write_store.pass_gate(wait=wait)
    except write_store.WritesHeld as held:
        rid = f" (request id {request_id})" if request_id else ""
        if held.state == "closed":
            why = "the monolith is the ledger's writer again (the write cutover was rolled back)"
        else:
            why = (f"the ledger is taking over writes from the monolith and held this write for "
                   f"{held.waited_s:.1f} s")
        detail = f": {held.reason}" if held.reason else ""
        raise ApiError("LEDGER_WRITES_HELD", f"The write was not applied{rid}: {why}{detail}. Nothing "
                       "was written; retry it with the same Idempotency-Key.", 503) from None


def execute_once(merchant_id: int, key: str, fingerprint: str,
                 produce: Callable[[], tuple[int, bytes]],
                 request_id: str | None = None) -> tuple[int, bytes]:
    """``monolith.common.idempotency.execute_once`` on the ledger's ``ledger_idempotency``."""
    with transaction.atomic(using=write_store.alias()):
        # The monolith's port (port_api, merchant 0) calls with the wallet's legacy row locked: a
        # wait here would hold that lock, and ledger_sync, which the rollback drains, needs it.
        # Its payout fails at once instead (503, nothing changed) and is retried by its client.
        gate(request_id, wait=merchant_id != PORT_MERCHANT)
        stored = write_store.claim_key(merchant_id, key, fingerprint)
        if stored is not None:
            stored_hash, status, body = stored
            if stored_hash != fingerprint:
                raise key_reused()
            if status is None or body is None:  # cannot happen: claim and response commit together
                raise ApiError("INTERNAL_ERROR", "Idempotency record has no response.", 500)
            return status, body
        status, body = produce()
        write_store.save_response(merchant_id, key, status, body)
        return status, body


class _LedgerWriteView(generics.GenericAPIView[Any]):
    # LegacyAPIView.write on the ledger's tables

    def write(self, execute: Callable[[int, dict[str, Any]], WriteResult]) -> HttpResponse:
        request = self.request
        key = validate_key(request.headers.get("Idempotency-Key"), required=False)
        body = json_body(request)
        merchant_id = _merchant_id(request)
        if key is None:
            with transaction.atomic(using=write_store.alias()):
                gate(self.request_id)
                status, data = execute(merchant_id, body)
            return Response(data, status=status)
        fingerprint = request_fingerprint(request.method or "POST", request.path, body)

        def produce() -> tuple[int, bytes]:
            status, data = execute(merchant_id, body)
            return status, JSONRenderer().render(data)

        status, content = execute_once(merchant_id, key, fingerprint, produce, self.request_id)
        return HttpResponse(content, status=status, content_type="application/json")

    @property
    def request_id(self) -> str | None:
        return getattr(self.request, "request_id", None)


def _movement(kind: str) -> Callable[[_LedgerWriteView, int, int, dict[str, Any]], WriteResult]:
    def execute(view: _LedgerWriteView, wallet_id: int, merchant_id: int,
                body: dict[str, Any]) -> WriteResult:
        _owned(merchant_id, wallet_id)  # 404 before 400
        data = validated(MovementSerializer, body)
        state = _owned(merchant_id, wallet_id, lock=True)
        amount = data["amount"]
        _raise(write_rules.refuse_credit(state, amount, locked_limit()) if kind == "credit"
               else write_rules.refuse_debit(state, amount))
        posting = write_rules.post(state, kind, amount, reference=data["reference"],
                                   description=data["description"])
        return 201, apply(posting, view.request_id)

    return execute


_credit, _debit = _movement("credit"), _movement("debit")


class WalletCreditView(_LedgerWriteView):
    # POST /api/v1/wallets/{id}/credit/ {"amount", "reference"?, "description"?} -> 201 transaction

    def post(self, request: Request, wallet_id: int) -> HttpResponse:
        return self.write(lambda merchant_id, body: _credit(self, wallet_id, merchant_id, body))


class WalletDebitView(_LedgerWriteView):
    # POST /api/v1/wallets/{id}/debit/ {"amount", "reference"?, "description"?} -> 201 transaction

    def post(self, request: Request, wallet_id: int) -> HttpResponse:
        return self.write(lambda merchant_id, body: _debit(self, wallet_id, merchant_id, body))


def _transfer(view: _LedgerWriteView, merchant_id: int, body: dict[str, Any]) -> WriteResult:
    data = validated(TransferSerializer, body)
    from_id, to_id, amount = data["from_wallet_id"], data["to_wallet_id"], data["amount"]
    if from_id == to_id:
        _raise(write_rules.same_wallet())
    # Lock in id order: two opposite transfers then queue instead of deadlocking.
    locked = {wallet_id: _owned(merchant_id, wallet_id, lock=True) for wallet_id in sorted((from_id, to_id))}
    source, target = locked[from_id], locked[to_id]
    _raise(write_rules.currency_mismatch(source, target))
    _raise(write_rules.refuse_debit(source, amount)
           or write_rules.refuse_credit(target, amount, locked_limit()))
    out = write_rules.post(source, "transfer_out", amount, reference=data["reference"],
                           description=f"Transfer to wallet {target.wallet_id}", counterparty=target)
    into = write_rules.post(target, "transfer_in", amount, reference=data["reference"],
                            description=f"Transfer from wallet {source.wallet_id}", counterparty=source)
    return 201, {"debit": apply(out, view.request_id), "credit": apply(into, view.request_id)}


class TransferView(_LedgerWriteView):
    # POST /api/v1/transfers/ {"from_wallet_id", "to_wallet_id", "amount", "reference"?} -> 201

    def post(self, request: Request) -> HttpResponse:
        return self.write(lambda merchant_id, body: _transfer(self, merchant_id, body))


credit = dry_run(WalletCreditView.as_view())
debit = dry_run(WalletDebitView.as_view())
transfer = dry_run(TransferView.as_view())
