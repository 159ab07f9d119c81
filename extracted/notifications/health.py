"""/healthz (the process answers), /readyz (its database answers) and /metrics (Prometheus).

Sends happen in the consumer process; what every scrape of the API can report for the
whole service is read from the database at scrape time: notifications by mode and status,
and the age of the oldest one still waiting to go out.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from monolith.common.health import healthz, readyz

__all__ = ["healthz", "metrics", "readyz"]

NOTIFICATIONS = Gauge("notifications_records", "Notification records by mode and status", ["mode", "status"])
OLDEST_WAITING = Gauge("notifications_oldest_waiting_seconds",
                       "Age of the oldest pending/retrying/sending notification (0 when none)")


def _refresh() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT mode, status, count(*) FROM notifications_notification GROUP BY mode, status")
        counts = cur.fetchall()
        cur.execute("SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                    " FROM notifications_notification WHERE status IN ('pending', 'retrying', 'sending')")
        row = cur.fetchone()
    NOTIFICATIONS.clear()
    for mode, status, count in counts:
        NOTIFICATIONS.labels(mode=mode, status=status).set(count)
    OLDEST_WAITING.set(float(row[0]) if row else 0.0)


def metrics(request: HttpRequest) -> HttpResponse:
    _refresh()
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
