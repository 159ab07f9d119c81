"""/healthz (the process answers), /readyz (its database answers) and /metrics (Prometheus).

Attempt counters live in the Celery worker processes; what every scrape of the API can
report for the whole service is read from the database at scrape time: deliveries by
status and the age of the oldest one still waiting.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from extracted.webhooks import domain
from monolith.common.health import healthz, readyz

__all__ = ["healthz", "metrics", "readyz"]

DELIVERIES = Gauge("webhooks_deliveries", "Webhook deliveries by status", ["status"])
OLDEST_WAITING = Gauge("webhooks_oldest_waiting_seconds",
                       "Age of the oldest pending/retrying delivery (0 when none)")


def _refresh() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM webhooks_delivery GROUP BY status")
        counts = dict(cur.fetchall())
        cur.execute("SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM webhooks_delivery"
                    " WHERE status IN ('pending', 'retrying', 'sending')")
        row = cur.fetchone()
    for status in domain.STATUSES:
        DELIVERIES.labels(status=status).set(counts.get(status, 0))
    OLDEST_WAITING.set(float(row[0]) if row else 0.0)


def metrics(request: HttpRequest) -> HttpResponse:
    _refresh()
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
