"""API representations of capabilities, audit entries, instances and flip requests."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from strangler.control.routing.models import AuditEntry, Capability


class CapabilitySerializer(serializers.ModelSerializer[Capability]):
    percent = serializers.CharField(read_only=True)
    routes = serializers.SerializerMethodField()

    shims = serializers.SerializerMethodField()

    class Meta:
        model = Capability
        fields = ("name", "mode", "percent", "canary_basis_points", "sticky_key", "upstream",
                  "fallback", "killed", "routes", "shims", "updated_at")

    def get_routes(self, obj: Capability) -> list[str]:
        return [str(rule) for rule in obj.rules.all()]

    def get_shims(self, obj: Capability) -> dict[str, str]:
        """Route → the path its extracted upstream serves it under (compatibility shims only)."""
        return {str(rule): rule.upstream_path for rule in obj.rules.all() if rule.upstream_path}


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = ("id", "at", "actor", "action", "capability", "from_mode", "to_mode",
                  "from_basis_points", "to_basis_points", "version", "reason", "evidence", "forced")
        read_only_fields = fields


class FlipSerializer(serializers.Serializer[Any]):
    mode = serializers.CharField()
    percent = serializers.CharField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    force = serializers.BooleanField(required=False, default=False)
    wait = serializers.FloatField(required=False, default=0.0, min_value=0.0, max_value=30.0)


class DeclareSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ShimSerializer(serializers.Serializer[Any]):
    route = serializers.CharField(help_text='e.g. "GET /api/v1/wallets/{wallet_id}/balance/"')
    upstream_path = serializers.CharField(
        allow_null=True, allow_blank=True,
        help_text="e.g. /v2/accounts/{wallet_id}/balance; null or blank: no shim (the legacy path)")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    wait = serializers.FloatField(required=False, default=0.0, min_value=0.0, max_value=30.0)


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    wait = serializers.FloatField(required=False, default=0.0, min_value=0.0, max_value=30.0)


class InstanceSerializer(serializers.Serializer[Any]):
    instance_id = serializers.CharField()
    address = serializers.CharField()
    version = serializers.IntegerField()
    last_heartbeat_age_s = serializers.FloatField()
    live = serializers.BooleanField()


class ChangeResultSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    audit_id = serializers.IntegerField()
    gate = serializers.DictField(allow_null=True)
    applied = serializers.ListField(child=serializers.CharField())
    lagging = serializers.ListField(child=serializers.CharField())
