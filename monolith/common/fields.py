"""DRF fields for the legacy wire format: strict input types, paise as strings, IST timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from monolith.common.money import AmountError, format_paise, parse_amount

MAX_ID = 2**63 - 1


class AmountField(serializers.Field):
    """Input: ``"100.50"`` or a Decimal number -> paise (int). Output: paise -> ``"100.50"``."""

    def to_internal_value(self, data: Any) -> int:
        try:
            return parse_amount(data)
        except AmountError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: int) -> str:
        return format_paise(value)


class PaiseField(serializers.Field):
    """Read-only paise rendered as a two-decimal string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> str:
        return format_paise(value)


class StrictIdField(serializers.Field):
    """A positive JSON integer; strings, booleans and fractions are refused."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be an integer id.")
        if not 0 < data <= MAX_ID:
            raise serializers.ValidationError("Must be a positive integer id.")
        return data

    def to_representation(self, value: int) -> int:
        return value


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField would turn ``123`` into ``"123"``)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return str(super().to_internal_value(data))


class LegacyDateTimeField(serializers.DateTimeField):
    """IST with offset and always six microsecond digits (isoformat drops them when zero)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | None) -> str | None:  # type: ignore[override]
        if value is None:
            return None
        return timezone.localtime(value).isoformat(timespec="microseconds")


class DisplayField(serializers.Field):
    """The ``_display`` twin of an integer code: ``source="get_status_display"``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return value


def idem_body(data: Any) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying it must be one."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": ["The body must be a JSON object."]}
        )
    return data
