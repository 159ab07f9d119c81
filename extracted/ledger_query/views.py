"""The legacy balance and transaction-history endpoints, served from the ledger read model.

The class names are the monolith's on purpose: DRF puts a view's name (and
docstring) in OPTIONS responses, which must be byte-identical too — so these
classes carry comments, not docstrings.
"""

from __future__ import annotations

from typing import Any

from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from extracted.ledger_query import wire
from extracted.ledger_query.auth import MerchantPrincipal
from extracted.ledger_query.ledger.models import LedgerTransaction, LedgerWallet
from monolith.common.errors import ApiError, not_found


def _merchant_id(request: Request) -> int:
    user: Any = request.user
    if not isinstance(user, MerchantPrincipal):
        raise ApiError("AUTHENTICATION_REQUIRED",
                       "Authentication required: send 'Authorization: Api-Key <key>'.", 401)
    return user.merchant_id


def _wallet(request: Request, wallet_id: int) -> LedgerWallet:
    # another merchant's wallet is a 404, exactly as in the monolith
    wallet = LedgerWallet.objects.filter(merchant_id=_merchant_id(request), wallet_id=wallet_id).first()
    if wallet is None:
        raise not_found(f"Wallet {wallet_id}")
    return wallet


class WalletBalanceView(generics.GenericAPIView[Any]):
    # GET /api/v1/wallets/{id}/balance/ -> {"wallet_id","currency","balance","updated_at"}

    def get(self, request: Request, wallet_id: int) -> Response:
        return Response(wire.balance(_wallet(request, wallet_id)))


class WalletTransactionsView(generics.GenericAPIView[Any]):
    # GET /api/v1/wallets/{id}/transactions/ -> a legacy page, newest (highest id) first

    def get(self, request: Request, wallet_id: int) -> Response:
        wallet = _wallet(request, wallet_id)
        rows = self.paginate_queryset(
            LedgerTransaction.objects.filter(wallet_id=wallet.wallet_id).order_by("-id")
        )
        return self.get_paginated_response([wire.transaction(t) for t in rows or []])
