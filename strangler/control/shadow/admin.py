"""Django admin for shadow results: read-only views of groups, samples and observations."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from strangler.control.shadow.models import DiffGroup, DiffSample, ShadowObservation


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SampleInline(admin.TabularInline):
    model = DiffSample
    extra = 0
    can_delete = False
    readonly_fields = ("request_id", "observed_at", "sample")


@admin.register(DiffGroup)
class DiffGroupAdmin(_ReadOnly):
    list_display = ("capability", "path", "kind", "count", "last_seen")
    list_filter = ("capability", "kind")
    inlines = (SampleInline,)


@admin.register(ShadowObservation)
class ShadowObservationAdmin(_ReadOnly):
    list_display = ("observed_at", "capability", "method", "path", "outcome", "effects")
    list_filter = ("capability", "outcome", "effects")
    search_fields = ("request_id",)
