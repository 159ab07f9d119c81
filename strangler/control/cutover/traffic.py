"""Reads of the per-route traffic record (``strangler_route_traffic``) for decommissioning."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max, Min, Sum
from django.utils import timezone

from migrations.decommission import RouteUse, RouteVerdict, classify
from strangler.control.cutover.models import RouteTraffic
from strangler.control.routing import services as routing
from strangler.control.routing.models import RouteRule


def unused_routes(days: int, now: datetime | None = None) -> tuple[list[RouteVerdict], datetime | None]:
    """Every route in the table with its verdict over the last ``days``; and the record's start."""
    db = routing.control_db()
    start = (now or timezone.now()) - timedelta(days=days)
    record = RouteTraffic.objects.using(db)
    since = record.aggregate(first=Min("minute"))["first"]
    recent = {(r["method"], r["path"]): int(r["hits"]) for r in record.filter(minute__gte=start)
              .values("method", "path").annotate(hits=Sum("hits"))}
    last = {(r["method"], r["path"]): r["last"] for r in record.values("method", "path")
            .annotate(last=Max("minute"))}
    uses = [RouteUse(rule.capability.name, rule.capability.mode, rule.method, rule.path,
                     recent.get((rule.method, rule.path), 0), last.get((rule.method, rule.path)),
                     rule.upstream_path or None)
            for rule in RouteRule.objects.using(db).select_related("capability")]
    return classify(uses, start, since), since
