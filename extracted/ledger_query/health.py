"""/healthz (the process answers), /readyz (its database answers) and /metrics (Prometheus)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from extracted.ledger_query.sync import current_lag
from monolith.common.health import healthz, readyz

__all__ = ["healthz", "metrics", "readyz"]


def metrics(request: HttpRequest) -> HttpResponse:
    current_lag()  # refresh the sync-lag gauges at scrape time, not only on API traffic
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
