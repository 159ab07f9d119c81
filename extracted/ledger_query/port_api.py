"""The endpoint behind the monolith's ledger port: its own money operations, after the write cutover.

``POST /internal/v1/wallets/{id}/postings/`` with ``{"kind": "payout" | "payout_reversal",
"amount", "reference", "description"}`` and a required ``Idempotency-Key``; the caller is
the monolith (``monolith.wallets.ledger_port.RemoteLedger``), authenticated by
``Authorization: Service <token>`` (``port_auth``: an HMAC of the shared ``STRANGLER_SECRET_KEY``)
(clients never reach ``/internal/``: the routing proxy has no route to it).

A payout's debit is refused as the monolith refuses it (``refuse_debit`` on the locked
wallet); a reversal never is (the money comes back whatever the wallet's state now).

Idempotency: the key names one money operation of the monolith (a payout's debit or its
reversal). Its fingerprint covers the wallet, the kind, the amount and the description,
not the reference: a payout's reference names the payout id the monolith reserved on the
first attempt, and a retry after a crash reserves another. The retry gets the first
attempt's posting back, reference included, and the monolith adopts that payout id.
Same key with another wallet, kind, amount or description: 422 IDEMPOTENCY_KEY_REUSED.

Except when that first posting is a payout's debit that has been reversed since (the monolith's
orphan sweep, ``monolith.wallets.orphans``, gives back a debit whose payout was never created,
under the key a real reversal would use). Handing it back would let the late retry adopt it and
create a payout whose money is back in the wallet: paid out without a debit. The replay is
answered 409 PAYOUT_DEBIT_REVERSED instead (nothing was paid out; retry with a new key), which
the port passes to the client; the reversal's wallet lock orders the two.

Answer: 201 ``{"transaction": <legacy transaction>, "wallet_updated_at": <legacy time>}``;
errors in the legacy shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.http import HttpResponse
from rest_framework import generics, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from extracted.ledger_query import wire, write_rules, write_store
from extracted.ledger_query.port_auth import SCHEME, is_service_token
from extracted.ledger_query.write_path import apply_posting, execute_once, json_body, validated
from monolith.common.errors import ApiError, not_found
from monolith.common.fields import AmountField, StrictCharField
from monolith.common.idempotency import request_fingerprint, validate_key

# ledger_idempotency's merchant column for the port's keys (no merchant has id 0)
PORT_NAMESPACE = 0
_FINGERPRINTED = ("kind", "amount", "description")


@dataclass(frozen=True)
class ServicePrincipal:
    name: str = "monolith"
    is_authenticated: bool = True


class ServiceAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ServicePrincipal, None] | None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme != SCHEME:
            return None
        if not is_service_token(token, settings.SECRET_KEY):
            raise ApiError("INVALID_API_KEY", "The service token is not this deployment's.", 401)
        return ServicePrincipal(), None

    def authenticate_header(self, request: Request) -> str:
        return SCHEME


class PortPostingSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=["payout", "payout_reversal"])
    amount = AmountField()
    reference = StrictCharField(required=False, allow_blank=True, max_length=64, default="")
    description = StrictCharField(required=False, allow_blank=True, max_length=255, default="")


class PortPostingView(generics.GenericAPIView[Any]):
    authentication_classes = [ServiceAuthentication]

    def post(self, request: Request, wallet_id: int) -> HttpResponse:
        key = validate_key(request.headers.get("Idempotency-Key"), required=True)
        assert key is not None
        body = json_body(request)
        data = validated(PortPostingSerializer, body)
        fingerprint = request_fingerprint("POST", request.path, {k: body.get(k) for k in _FINGERPRINTED})
        request_id = getattr(request, "request_id", None)
        replayed = True

        def produce() -> tuple[int, bytes]:
            nonlocal replayed
            replayed = False
            state = write_store.wallet(None, wallet_id, lock=True)
            if state is None:
                raise not_found(f"Wallet {wallet_id}")
            if data["kind"] == "payout":
                refusal = write_rules.refuse_debit(state, data["amount"])
                if refusal is not None:
                    raise ApiError(refusal.error_code, refusal.message, refusal.status)
            else:
                _require_reversible(wallet_id, write_rules.to_major(-data["amount"], state.currency),
                                    data["reference"])
            posting = write_rules.post(state, data["kind"], data["amount"], reference=data["reference"],
                                       description=data["description"])
            row, updated_at = apply_posting(posting, request_id)
            answer = {"transaction": row, "wallet_updated_at": wire.legacy_time(updated_at)}
            return 201, JSONRenderer().render(answer)

        with transaction.atomic(using=write_store.alias()):
            status, content = execute_once(PORT_NAMESPACE, key, fingerprint, produce)
            if replayed and data["kind"] == "payout" and status == 201:
                _refuse_if_reversed(wallet_id, json.loads(content)["transaction"])
        return HttpResponse(content, status=status, content_type="application/json")


postings = PortPostingView.as_view()


_REVERSIBLE = """
SELECT (SELECT count(*) FROM ledger_transaction
         WHERE wallet_id = %(w)s AND kind = 'payout' AND reference = %(ref)s AND amount = %(amount)s),
       (SELECT count(*) FROM ledger_transaction
         WHERE wallet_id = %(w)s AND kind = 'payout_reversal' AND reference = %(ref)s)
"""


def _require_reversible(wallet_id: int, amount: Any, reference: str) -> None:
    """A reversal gives back one payout's debit (``amount``: the debit's, signed, major units):
    the same wallet, reference and amount, once.

    Without this a reversal could credit money no payout took (a monolith bug, a leaked
    token). Its Idempotency-Key replay (the same reversal retried) never gets here.
    """
    with connections[write_store.alias()].cursor() as cursor:
        cursor.execute(_REVERSIBLE, {"w": wallet_id, "ref": reference, "amount": amount})
        debits, reversals = cursor.fetchone()
    if debits == 0:
        raise ApiError("VALIDATION_ERROR", f"No payout debit {reference!r} of this amount on wallet "
                       f"{wallet_id} to reverse; nothing was posted.", 422)
    if reversals >= debits:
        raise ApiError("VALIDATION_ERROR", f"Payout debit {reference!r} on wallet {wallet_id} is reversed "
                       "already; nothing was posted.", 409)


_REVERSED = ("SELECT count(*) FROM ledger_transaction"
             " WHERE wallet_id = %s AND kind = 'payout_reversal' AND reference = %s")


def _refuse_if_reversed(wallet_id: int, debit: dict[str, Any]) -> None:
    """A replayed payout debit that has been reversed since is not handed back as live.

    The wallet is locked first, as a reversal locks it: one committing now is seen, not missed.
    """
    write_store.wallet(None, wallet_id, lock=True)
    with connections[write_store.alias()].cursor() as cursor:
        cursor.execute(_REVERSED, [wallet_id, debit["reference"]])
        (reversals,) = cursor.fetchone()
    if reversals:
        raise ApiError("PAYOUT_DEBIT_REVERSED", f"This payout's debit (transaction {debit['id']}, "
                       f"{debit['reference']}) was reversed: the first attempt never created its payout "
                       "and the money is back in the wallet. Nothing was paid out; retry with a new "
                       "Idempotency-Key to make the payout.", 409)


# -- the legacy tables' sync: the monolith pulls the write path's events, mirrors them, acks --------

_UNSYNCED = ("SELECT transaction_id, event_type, data FROM ledger_write_event WHERE synced_at IS NULL"
             " ORDER BY transaction_id LIMIT %s")
_ACK = "UPDATE ledger_write_event SET synced_at = clock_timestamp() WHERE transaction_id = ANY(%s)"
MAX_BATCH = 500


class PortEventsView(generics.GenericAPIView[Any]):
    # GET: {"events": [{"transaction_id", "type", "data"}]} not yet mirrored, oldest id first;
    # POST {"ack": [transaction ids]}: mirrored (a crash before the ack only repeats the mirror)
    authentication_classes = [ServiceAuthentication]

    def get(self, request: Request) -> HttpResponse:
        try:
            limit = min(max(int(request.query_params.get("limit", "100")), 1), MAX_BATCH)
        except ValueError:
            limit = 100
        with connections[write_store.alias()].cursor() as cursor:
            cursor.execute(_UNSYNCED, [limit])
            rows = cursor.fetchall()
        events = [{"transaction_id": t, "type": e, "data": d if isinstance(d, dict) else json.loads(d)}
                  for t, e, d in rows]
        return HttpResponse(JSONRenderer().render({"events": events}), content_type="application/json")

    def post(self, request: Request) -> HttpResponse:
        body = json_body(request)
        ids = body.get("ack")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ApiError("VALIDATION_ERROR", "The request is invalid; see errors.", 400,
                           {"ack": ["Must be a list of transaction ids."]})
        with connections[write_store.alias()].cursor() as cursor:
            cursor.execute(_ACK, [ids])
            acked = cursor.rowcount
        return HttpResponse(JSONRenderer().render({"acked": acked}), content_type="application/json")


events = PortEventsView.as_view()
