"""API shapes: endpoints (secret only on create), deliveries (the delivery log) and attempts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rest_framework import serializers

from extracted.webhooks import domain, ssrf
from extracted.webhooks.hooks.models import Attempt, Delivery, Endpoint


class EndpointSerializer(serializers.ModelSerializer[Endpoint]):
    events = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False)

    class Meta:
        model = Endpoint
        fields = ["id", "url", "events", "description", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise serializers.ValidationError("Use an http(s) URL with a host and no user:password part.")
        allowlist = self.context.get("allowlist", ())
        try:  # literal addresses can be judged now; names are checked again at every delivery
            if ssrf.classify(parts.hostname.strip("[]")) is not None:
                ssrf.check(parts.hostname, [parts.hostname.strip("[]")], allowlist)
        except ValueError:
            pass  # a name, not an IP literal
        except Exception as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        try:
            return domain.validate_subscriptions(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class CreatedEndpointSerializer(EndpointSerializer):
    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer[Attempt]):
    class Meta:
        model = Attempt
        fields = ["number", "started_at", "duration_ms", "address", "response_code", "error"]


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    class Meta:
        model = Delivery
        fields = ["id", "event_id", "event_name", "endpoint_id", "status", "attempts", "max_attempts",
                  "last_error", "last_response_code", "last_attempt_at", "next_attempt_at",
                  "delivered_at", "created_at"]

    def to_representation(self, instance: Delivery) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("with_attempts"):
            data["attempt_log"] = AttemptSerializer(
                Attempt.objects.filter(delivery_id=instance.pk).order_by("number"), many=True).data
        return data
