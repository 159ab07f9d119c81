"""Wire shapes of webhook endpoints; the secret is only in the create response."""

from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from rest_framework import serializers

from monolith.common.fields import LegacyDateTimeField, StrictCharField
from monolith.hooks.delivery import EVENTS
from monolith.hooks.models import WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    events = serializers.SerializerMethodField()
    created_at = LegacyDateTimeField()

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "is_active", "created_at"]

    def get_events(self, obj: WebhookEndpoint) -> list[str]:
        return [e.strip() for e in obj.events.split(",") if e.strip()]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer[Any]):
    url = StrictCharField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    events = serializers.ListField(child=serializers.CharField(), allow_empty=False)

    def validate_events(self, value: list[str]) -> list[str]:
        raw = self.initial_data.get("events")
        if not all(isinstance(e, str) for e in raw):
            raise serializers.ValidationError("Every event must be a string.")
        unknown = sorted(set(value) - EVENTS - {"*"})
        if unknown:
            raise serializers.ValidationError(
                f"Unknown events {unknown}; use {sorted(EVENTS)} or [\"*\"]."
            )
        return list(dict.fromkeys(value))  # de-duplicated, order kept
