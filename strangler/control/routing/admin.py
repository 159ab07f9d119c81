"""Django admin for browsing routes, flags, versions, instances and the audit log.

Read-only on purpose: a change made here would skip the gate, the version and the
audit entry. Changes go through the CLI or the API (the service layer); that includes a
route's compatibility shim (``upstream_path``), shown here with its route.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from strangler.control.routing.models import (
    ApiToken,
    AuditEntry,
    Capability,
    GlobalSwitch,
    ProxyInstance,
    RouteRule,
    RouteTableVersion,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RouteRuleInline(admin.TabularInline):
    model = RouteRule
    extra = 0
    fields = ("method", "path", "upstream_path", "host", "header_name", "header_value", "source")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Capability)
class CapabilityAdmin(ReadOnlyAdmin):
    list_display = ("name", "mode", "percent", "killed", "upstream", "updated_at")
    list_filter = ("mode", "killed")
    search_fields = ("name", "rules__path", "rules__upstream_path")
    inlines = (RouteRuleInline,)


@admin.register(GlobalSwitch)
class GlobalSwitchAdmin(ReadOnlyAdmin):
    list_display = ("kill_switch", "updated_at")


@admin.register(RouteTableVersion)
class RouteTableVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "created_at", "actor", "reason")
    search_fields = ("actor", "reason")


@admin.register(ProxyInstance)
class ProxyInstanceAdmin(ReadOnlyAdmin):
    list_display = ("instance_id", "host", "port", "version", "applied_at", "last_heartbeat")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "at", "actor", "action", "capability", "from_mode", "to_mode", "version",
                    "forced", "reason")
    list_filter = ("action", "forced", "capability")
    search_fields = ("actor", "reason", "capability")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "permissions", "created_at", "revoked")
    exclude = ("token_sha256",)
