"""Sync lag: how far behind the monolith the ledger may be, per response and as a metric.

The ledger is fresh as of the later of (a) the commit time of the newest event it
applied and (b) the last moment the consumer polled and found nothing pending (a
quiet monolith is not a stale ledger). Lag is ``now`` minus that. Above
``LEDGER_STALE_AFTER_SECONDS`` (2 s) it is flagged stale. Unknown (nothing applied,
consumer never ran) counts as stale.

Headers on every API response: ``X-Ledger-Sync-Lag`` (seconds, 3 decimals, or
``unknown``) and ``X-Ledger-Sync-Stale`` (``true``/``false``). The proxy's shadow
diff must treat both as volatile: the monolith does not send them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import Gauge

LAG_HEADER = "X-Ledger-Sync-Lag"
STALE_HEADER = "X-Ledger-Sync-Stale"
REQUEST_ATTR = "ledger_sync_lag"


@dataclass(frozen=True)
class SyncLag:
    seconds: float | None  # None: unknown
    stale: bool

    def header_value(self) -> str:
        return "unknown" if self.seconds is None else f"{self.seconds:.3f}"


def sync_lag(newest_event_at: datetime | None, caught_up_at: datetime | None, now: datetime,
             stale_after: float) -> SyncLag:
    """Pure: the lag at ``now`` given the two freshness marks (either may be missing)."""
    marks = [m for m in (newest_event_at, caught_up_at) if m is not None]
    if not marks:
        return SyncLag(None, True)
    seconds = max(0.0, (now - max(marks)).total_seconds())
    return SyncLag(seconds, seconds > stale_after)


@functools.cache
def _gauges() -> tuple[Gauge, Gauge]:
    # created on first use, never at import: settings modules import this file
    return (
        Gauge("strangler_ledger_sync_lag_seconds",
              "Time since the ledger was last known to be in step with the monolith"),
        Gauge("strangler_ledger_sync_stale", "1 when the sync lag is above the stale threshold"),
    )


def lag_now(newest_event_at: datetime | None, caught_up_at: datetime | None) -> SyncLag:
    """The lag now, from marks already read (the read path fetches them with its data)."""
    return sync_lag(newest_event_at, caught_up_at, timezone.now(),
                    float(getattr(settings, "LEDGER_STALE_AFTER_SECONDS", 2.0)))


def observe(lag: SyncLag) -> SyncLag:
    """Publishes ``lag`` on the gauges and returns it."""
    lag_gauge, stale_gauge = _gauges()
    lag_gauge.set(float("inf") if lag.seconds is None else lag.seconds)
    stale_gauge.set(1 if lag.stale else 0)
    return lag


def current_lag() -> SyncLag:
    from extracted.ledger_query.ledger.models import LedgerSyncState

    state = LedgerSyncState.objects.filter(id=1).first()
    return observe(lag_now(state.newest_event_at if state else None, state.caught_up_at if state else None))


class SyncLagMiddleware:
    """Adds the sync-lag headers to API responses (not to health checks or metrics).

    A view that already read the sync marks in its own query leaves the lag on the
    request as ``REQUEST_ATTR``; otherwise the marks are read here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            known: SyncLag | None = getattr(request, REQUEST_ATTR, None)
            lag = current_lag() if known is None else observe(known)
            response[LAG_HEADER] = lag.header_value()
            response[STALE_HEADER] = "true" if lag.stale else "false"
        return response
