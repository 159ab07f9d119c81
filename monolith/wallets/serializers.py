"""Wire shapes of wallets, balances and ledger transactions (field order is the contract)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from monolith.common.fields import (
    AmountField,
    DisplayField,
    LegacyDateTimeField,
    PaiseField,
    StrictCharField,
    StrictIdField,
)
from monolith.wallets.models import Transaction, Wallet

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    user_id = serializers.IntegerField(read_only=True)
    balance = PaiseField()
    status_display = DisplayField(source="get_status_display")
    created_at = LegacyDateTimeField()
    updated_at = LegacyDateTimeField()

    class Meta:
        model = Wallet
        fields = [
            "id", "user_id", "currency", "balance", "status", "status_display",
            "limits_locked", "created_at", "updated_at",
        ]


class BalanceSerializer(serializers.ModelSerializer[Wallet]):
    wallet_id = serializers.IntegerField(source="id", read_only=True)
    balance = PaiseField()
    updated_at = LegacyDateTimeField()

    class Meta:
        model = Wallet
        fields = ["wallet_id", "currency", "balance", "updated_at"]


class TransactionSerializer(serializers.ModelSerializer[Transaction]):
    wallet_id = serializers.IntegerField(read_only=True)
    txn_type_display = DisplayField(source="get_txn_type_display")
    amount = PaiseField()
    balance_after = PaiseField()
    status_display = DisplayField(source="get_status_display")
    related_wallet_id = serializers.IntegerField(read_only=True, allow_null=True)
    created_at = LegacyDateTimeField()

    class Meta:
        model = Transaction
        fields = [
            "id", "wallet_id", "txn_type", "txn_type_display", "amount", "balance_after",
            "status", "status_display", "reference", "description", "related_wallet_id",
            "created_at",
        ]


class WalletCreateSerializer(serializers.Serializer[Any]):
    user_id = StrictIdField()
    currency = StrictCharField(required=False, default="INR")

    def validate_currency(self, value: str) -> str:
        if not _CURRENCY.match(value):
            raise serializers.ValidationError("Must be a 3-letter upper-case ISO 4217 code.")
        return value


class MovementSerializer(serializers.Serializer[Any]):
    """Body of a credit or debit."""

    amount = AmountField()
    reference = StrictCharField(required=False, allow_blank=True, max_length=64, default="")
    description = StrictCharField(required=False, allow_blank=True, max_length=255, default="")


class TransferSerializer(serializers.Serializer[Any]):
    from_wallet_id = StrictIdField()
    to_wallet_id = StrictIdField()
    amount = AmountField()
    reference = StrictCharField(required=False, allow_blank=True, max_length=64, default="")
