"""Wire shapes of merchants, end users and KYC submissions (field order is the contract)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from monolith.accounts.models import DOC_TYPE_CHOICES, KycSubmission, Merchant, User
from monolith.common.fields import DisplayField, LegacyDateTimeField, StrictCharField
from monolith.common.money import mask_number

DOC_TYPES_BY_NAME = {name: code for code, name in DOC_TYPE_CHOICES}


class MerchantSerializer(serializers.ModelSerializer[Merchant]):
    created_at = LegacyDateTimeField()

    class Meta:
        model = Merchant
        fields = ["id", "name", "email", "is_active", "created_at"]


class UserSerializer(serializers.ModelSerializer[User]):
    kyc_status_display = DisplayField(source="get_kyc_status_display")
    created_at = LegacyDateTimeField()

    class Meta:
        model = User
        fields = [
            "id", "external_ref", "full_name", "email", "phone", "kyc_status",
            "kyc_status_display", "created_at",
        ]


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return str(super().to_internal_value(data))


class UserCreateSerializer(serializers.Serializer[Any]):
    external_ref = StrictCharField(max_length=64)
    full_name = StrictCharField(max_length=200)
    email = StrictEmailField(required=False, allow_blank=True, max_length=254, default="")
    phone = StrictCharField(required=False, allow_blank=True, max_length=20, default="")


class KycSubmissionSerializer(serializers.ModelSerializer[KycSubmission]):
    user_id = serializers.IntegerField(read_only=True)
    document_type = DisplayField(source="get_document_type_display")
    document_number_masked = serializers.SerializerMethodField()
    status_display = DisplayField(source="get_status_display")
    submitted_at = LegacyDateTimeField()
    reviewed_at = LegacyDateTimeField()

    class Meta:
        model = KycSubmission
        fields = [
            "id", "user_id", "document_type", "document_number_masked", "status",
            "status_display", "reason", "submitted_at", "reviewed_at",
        ]

    def get_document_number_masked(self, obj: KycSubmission) -> str:
        return mask_number(obj.document_number)


class KycSubmitSerializer(serializers.Serializer[Any]):
    document_type = serializers.ChoiceField(choices=sorted(DOC_TYPES_BY_NAME))
    document_number = StrictCharField(min_length=4, max_length=32)

    def validate_document_type(self, value: str) -> int:
        return DOC_TYPES_BY_NAME[value]

    def validate_document_number(self, value: str) -> str:
        if not value.isalnum() or not value.isascii():
            raise serializers.ValidationError("Must contain only letters and digits.")
        return value.upper()


class KycRejectSerializer(serializers.Serializer[Any]):
    reason = StrictCharField(max_length=255)
