"""Wire shapes of bank accounts and payouts (field order is the contract)."""

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
from monolith.common.money import mask_number
from monolith.payouts.models import BankAccount, Payout

_ACCOUNT_NUMBER = re.compile(r"^[0-9]{9,18}$")
_IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")


class BankAccountSerializer(serializers.ModelSerializer[BankAccount]):
    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    account_number_masked = serializers.SerializerMethodField()
    created_at = LegacyDateTimeField()

    class Meta:
        model = BankAccount
        fields = ["id", "user_id", "account_number_masked", "ifsc", "holder_name", "created_at"]

    def get_account_number_masked(self, obj: BankAccount) -> str:
        return mask_number(obj.account_number)


class BankAccountCreateSerializer(serializers.Serializer[Any]):
    account_number = StrictCharField(max_length=18)
    ifsc = StrictCharField(max_length=11)
    holder_name = StrictCharField(max_length=200)
    user_id = StrictIdField(required=False, allow_null=True, default=None)

    def validate_account_number(self, value: str) -> str:
        if not _ACCOUNT_NUMBER.match(value):
            raise serializers.ValidationError("Must be 9 to 18 digits.")
        return value

    def validate_ifsc(self, value: str) -> str:
        if not _IFSC.match(value.upper()):
            raise serializers.ValidationError(
                "Must be an IFSC: 4 letters, a 0, then 6 letters or digits (e.g. HDFC0001234)."
            )
        return value.upper()


class PayoutSerializer(serializers.ModelSerializer[Payout]):
    wallet_id = serializers.IntegerField(read_only=True)
    bank_account_id = serializers.IntegerField(read_only=True)
    amount = PaiseField()
    status_display = DisplayField(source="get_status_display")
    created_at = LegacyDateTimeField()
    updated_at = LegacyDateTimeField()

    class Meta:
        model = Payout
        fields = [
            "id", "wallet_id", "bank_account_id", "amount", "status", "status_display",
            "provider_ref", "failure_reason", "created_at", "updated_at",
        ]


class PayoutCreateSerializer(serializers.Serializer[Any]):
    wallet_id = StrictIdField()
    bank_account_id = StrictIdField()
    amount = AmountField()
