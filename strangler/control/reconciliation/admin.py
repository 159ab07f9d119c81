"""Admin pages: runs and discrepancies browsable; sign-off actions with a note; audit read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from strangler.control.reconciliation import services
from strangler.control.reconciliation.errors import ReconciliationServiceError
from strangler.control.reconciliation.models import (
    Discrepancy,
    DiscrepancyAction,
    ReconciliationRun,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationRun)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("id", "capability", "status", "sequence", "counts", "attempts", "started_at",
                    "finished_at")
    list_filter = ("capability", "status")
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea, help_text="why: kept in the audit trail")


def _sign_off(action: str) -> Any:
    def run_action(modeladmin: DiscrepancyAdmin, request: HttpRequest,
                   queryset: QuerySet[Discrepancy]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = NoteForm(request.POST)
            if form.is_valid():
                done = 0
                for discrepancy in queryset:
                    try:
                        services.act(discrepancy.pk, action, actor=request.user.get_username(),
                                     note=form.cleaned_data["note"])
                        done += 1
                    except ReconciliationServiceError as exc:
                        modeladmin.message_user(request, str(exc), messages.ERROR)
                modeladmin.message_user(request, f"{action}: {done} discrepancies")
                return None
        else:
            form = NoteForm()
        context = {**modeladmin.admin_site.each_context(request), "form": form,
                   "action": action, "queryset": queryset,
                   "opts": modeladmin.model._meta, "title": f"{action.capitalize()} discrepancies"}
        return TemplateResponse(request, "reconciliation/sign_off.html", context)

    run_action.__name__ = action
    return admin.action(description=f"{action.capitalize()} selected (with a note)")(run_action)


class ActionInline(admin.TabularInline):
    model = DiscrepancyAction
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor", "action", "from_state", "to_state", "note")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "comparison", "category", "key", "column", "legacy_value",
                    "extracted_value", "difference", "wallet_id", "day", "state", "pending")
    list_filter = ("state", "category", "comparison", "pending", "run__capability")
    search_fields = ("key", "=wallet_id")
    readonly_fields = [f.name for f in Discrepancy._meta.fields]
    inlines = (ActionInline,)
    actions = [_sign_off("acknowledge"), _sign_off("resolve"), _sign_off("accept")]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("reconciliation.change_discrepancy") if obj is None else False


@admin.register(DiscrepancyAction)
class DiscrepancyActionAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "discrepancy", "from_state", "to_state", "note")
    list_filter = ("action", "actor")
    readonly_fields = ("at", "actor", "action", "discrepancy", "from_state", "to_state", "note")
