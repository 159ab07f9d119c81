"""Wallet endpoints: create/list/show, balance, transactions, credit, debit, transfer."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.common.api import LegacyAPIView, WriteResult, validated
from monolith.wallets import services
from monolith.wallets.models import Transaction, Wallet
from monolith.wallets.serializers import (
    BalanceSerializer,
    MovementSerializer,
    TransactionSerializer,
    TransferSerializer,
    WalletCreateSerializer,
    WalletSerializer,
)


class WalletListView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return self.page(Wallet.objects.filter(merchant=self.merchant).order_by("id"),
                         WalletSerializer)

    def post(self, request: Request) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(WalletCreateSerializer, body)
            wallet = services.create_wallet(self.merchant, data["user_id"], data["currency"])
            return 201, WalletSerializer(wallet).data

        return self.write(idempotency_required=False, execute=execute)


class WalletDetailView(LegacyAPIView):
    def get(self, request: Request, wallet_id: int) -> Response:
        return Response(WalletSerializer(services.wallet_of(self.merchant, wallet_id)).data)


class WalletBalanceView(LegacyAPIView):
    def get(self, request: Request, wallet_id: int) -> Response:
        return Response(BalanceSerializer(services.wallet_of(self.merchant, wallet_id)).data)


class WalletTransactionsView(LegacyAPIView):
    def get(self, request: Request, wallet_id: int) -> Response:
        wallet = services.wallet_of(self.merchant, wallet_id)
        return self.page(Transaction.objects.filter(wallet=wallet).order_by("-id"),
                         TransactionSerializer)


class WalletCreditView(LegacyAPIView):
    def post(self, request: Request, wallet_id: int) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            services.wallet_of(self.merchant, wallet_id)  # 404 before 400
            data = validated(MovementSerializer, body)
            txn = services.credit(self.merchant, wallet_id, data.pop("amount"), **data)
            return 201, TransactionSerializer(txn).data

        return self.write(idempotency_required=False, execute=execute)


class WalletDebitView(LegacyAPIView):
    def post(self, request: Request, wallet_id: int) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            services.wallet_of(self.merchant, wallet_id)
            data = validated(MovementSerializer, body)
            txn = services.debit(self.merchant, wallet_id, data.pop("amount"), **data)
            return 201, TransactionSerializer(txn).data

        return self.write(idempotency_required=False, execute=execute)


class TransferView(LegacyAPIView):
    def post(self, request: Request) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(TransferSerializer, body)
            out, into = services.transfer(
                self.merchant, data["from_wallet_id"], data["to_wallet_id"], data["amount"],
                reference=data["reference"],
            )
            return 201, {"debit": TransactionSerializer(out).data,
                         "credit": TransactionSerializer(into).data}

        return self.write(idempotency_required=False, execute=execute)
