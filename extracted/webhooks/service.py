"""One delivery attempt, end to end: claim the row, send outside any transaction, record.

Idempotent, so a task that runs twice (acks_late redelivery, a sweep, a duplicate enqueue)
sends at most once per claim: only a row that is due and not leased can be claimed, and a
delivered or dead-lettered row never is (except through ``redeliver``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from prometheus_client import Counter, Histogram

from extracted.webhooks import domain
from extracted.webhooks.delivery import Sender
from extracted.webhooks.hooks.models import Delivery

_log = structlog.get_logger("webhooks.service")
ATTEMPTS = Counter("webhooks_attempts_total", "Delivery attempts by outcome", ["outcome"])
LATENCY = Histogram("webhooks_attempt_seconds", "Duration of one delivery attempt")


@dataclass(frozen=True)
class Next:
    """What the task should do after an attempt: nothing, or retry in ``retry_in`` seconds."""

    retry_in: float | None


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: str
    event_name: str
    payload: str
    attempts: int
    max_attempts: int
    endpoint_id: int
    url: str
    secret: str
    endpoint_active: bool


# One statement, one round trip: a concurrent claim of the same row waits for this one to
# commit, re-checks the WHERE and finds the row leased, so only one worker sends.
_CLAIM = """
UPDATE webhooks_delivery d SET status = 'sending', lease_until = %(now)s + make_interval(secs => %(lease)s)
FROM webhooks_endpoint e
WHERE d.id = %(id)s AND e.id = d.endpoint_id
  AND ((d.status IN ('pending', 'retrying') AND d.next_attempt_at <= %(now)s + interval '1 second')
       OR (d.status = 'sending' AND d.lease_until < %(now)s))
RETURNING d.id, d.event_id, d.event_name, d.payload, d.attempts, d.max_attempts, e.id, e.url, e.secret,
          e.is_active
"""
# the attempt row and the delivery's new state, atomically (one statement)
_RECORD = """
WITH logged AS (
  INSERT INTO webhooks_attempt (delivery_id, number, started_at, duration_ms, address, response_code,
                                error, response_excerpt)
  VALUES (%(id)s, %(number)s, %(started)s, %(ms)s, %(address)s, %(code)s, %(error)s, %(excerpt)s))
UPDATE webhooks_delivery SET status = %(status)s, attempts = %(number)s, lease_until = NULL,
  last_error = %(error)s, last_response_code = %(code)s, last_attempt_at = %(now)s,
  delivered_at = CASE WHEN %(status)s = 'delivered' THEN %(now)s END,
  next_attempt_at = %(now)s + make_interval(secs => %(retry_in)s)
WHERE id = %(id)s
"""


def claim(delivery_id: int, lease: float, now: datetime) -> Claimed | None:
    with connection.cursor() as cur:
        cur.execute(_CLAIM, {"id": delivery_id, "lease": lease, "now": now})
        row = cur.fetchone()
    return None if row is None else Claimed(*row)


def attempt(delivery_id: int, sender: Sender, backoff: domain.Backoff, lease: float) -> Next:
    started = timezone.now()
    row = claim(delivery_id, lease, started)
    if row is None:
        return Next(None)  # already delivered, dead, leased by another worker, or not due
    if not row.endpoint_active:
        result = domain.AttemptResult(None, "endpoint disabled by the merchant", permanent=True)
        address, excerpt, seconds = "", b"", 0.0
    else:
        t0 = time.perf_counter()
        outcome = sender.send(row.url, row.secret, row.payload.encode(), {
            "PayStream-Event": row.event_name, "PayStream-Event-Id": row.event_id,
            "PayStream-Delivery": str(row.id)}, int(time.time()))
        seconds = time.perf_counter() - t0
        result, address, excerpt = outcome.result, outcome.address or "", outcome.body_excerpt
    number = row.attempts + 1
    decision = domain.decide(result, number, row.max_attempts, backoff)
    error = "" if decision.status == domain.DELIVERED else domain.describe_failure(
        result.response_code, result.error)
    with connection.cursor() as cur:
        cur.execute(_RECORD, {
            "id": row.id, "number": number, "started": started, "ms": int(seconds * 1000),
            "address": address, "code": result.response_code, "error": error,
            "excerpt": excerpt[:1024].decode(errors="replace"), "status": decision.status,
            "now": timezone.now(), "retry_in": decision.retry_in or 0.0})
    ATTEMPTS.labels(outcome=decision.status).inc()
    LATENCY.observe(seconds)
    _log.info("webhooks.attempt", delivery_id=row.id, endpoint_id=row.endpoint_id, attempt=number,
              status=decision.status, code=result.response_code, error=error or None)
    return Next(decision.retry_in)


class RedeliverRefused(Exception):
    pass


def redeliver(delivery: Delivery, extra_attempts: int) -> None:
    """Merchant's manual redeliver: a fresh attempt budget, due now. Not while one is pending."""
    if delivery.status not in (domain.DELIVERED, domain.DEAD_LETTERED):
        raise RedeliverRefused(
            f"delivery {delivery.pk} is {delivery.status}: it is already queued; nothing was changed. "
            "Wait for it to be delivered or dead-lettered, then redeliver.")
    Delivery.objects.filter(pk=delivery.pk).update(
        status=domain.PENDING, max_attempts=delivery.attempts + extra_attempts,
        next_attempt_at=timezone.now(), delivered_at=None)


def due_ids(now: datetime, grace: float, limit: int = 1000) -> list[int]:
    """Deliveries that should be moving but have no task (lost enqueue, crashed worker)."""
    cutoff = now - timedelta(seconds=grace)
    return list(Delivery.objects.filter(
        Q(status__in=[domain.PENDING, domain.RETRYING], next_attempt_at__lt=cutoff)
        | Q(status=domain.SENDING, lease_until__lt=now)).order_by("id").values_list("id", flat=True)[:limit])
