"""Django admin for the migration plans: where each capability stands, every attempt, traffic.

Read-only, like the routing admin: a plan moves only through `strangler migrate` (or
``cutover.services``), which checks the evidence, runs the actions and writes the audit.
The changelist is what a platform team looks at on a Tuesday afternoon: state, canary
share, whether a step is open, and what the last attempt was missing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from strangler.control.cutover.models import Plan, PlanTransition, RouteTraffic
from strangler.control.routing.admin import ReadOnlyAdmin


class TransitionInline(admin.TabularInline):
    model = PlanTransition
    extra = 0
    fields = ("started_at", "kind", "from_state", "to_state", "percent", "outcome", "missing",
              "actor", "reason", "audit_id")
    readonly_fields = fields
    can_delete = False
    ordering = ("-id",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ("capability", "state", "percent", "step_open", "ports", "last_attempt", "updated_at")
    list_filter = ("state",)
    search_fields = ("capability", "data_capability")
    inlines = (TransitionInline,)

    @admin.display(description="step open", boolean=True)
    def step_open(self, plan: Plan) -> bool:
        return plan.in_progress is not None

    @admin.display(description="last attempt")
    def last_attempt(self, plan: Plan) -> str:
        last = plan.transitions.order_by("-id").first()
        if last is None:
            return "-"
        missing = f": {'; '.join(last.missing)}" if last.missing else ""
        return f"{last.from_state} → {last.to_state} {last.outcome}{missing}"[:300]


@admin.register(PlanTransition)
class PlanTransitionAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "plan", "kind", "from_state", "to_state", "percent", "outcome",
                    "actor")
    list_filter = ("outcome", "kind", "to_state")
    search_fields = ("plan__capability", "actor", "reason")


@admin.register(RouteTraffic)
class RouteTrafficAdmin(ReadOnlyAdmin):
    list_display = ("minute", "method", "path", "hits", "monolith_hits")
    list_filter = ("method",)
    search_fields = ("path",)
    date_hierarchy = "minute"
