"""Bank account and payout endpoints. ``POST /payouts/`` requires an Idempotency-Key."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.common.api import LegacyAPIView, WriteResult, validated
from monolith.common.errors import not_found
from monolith.payouts import services
from monolith.payouts.models import BankAccount, Payout
from monolith.payouts.serializers import (
    BankAccountCreateSerializer,
    BankAccountSerializer,
    PayoutCreateSerializer,
    PayoutSerializer,
)


class BankAccountListView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return self.page(BankAccount.objects.filter(merchant=self.merchant).order_by("id"),
                         BankAccountSerializer)

    def post(self, request: Request) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(BankAccountCreateSerializer, body)
            account = services.create_bank_account(self.merchant, **data)
            return 201, BankAccountSerializer(account).data

        return self.write(idempotency_required=False, execute=execute)


class PayoutListView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return self.page(Payout.objects.filter(merchant=self.merchant).order_by("-id"),
                         PayoutSerializer)

    def post(self, request: Request) -> HttpResponse:
        key = request.headers.get("Idempotency-Key", "")

        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(PayoutCreateSerializer, body)
            payout = services.create_payout(self.merchant, idempotency_key=key, **data)
            return 201, PayoutSerializer(payout).data

        return self.write(idempotency_required=True, execute=execute)


class PayoutDetailView(LegacyAPIView):
    def get(self, request: Request, payout_id: int) -> Response:
        payout = Payout.objects.filter(merchant=self.merchant, pk=payout_id).first()
        if payout is None:
            raise not_found(f"Payout {payout_id}")
        return Response(PayoutSerializer(payout).data)
