"""One delivery attempt, end to end: claim the row, send outside any transaction, record.

Idempotent, so a task that runs twice (acks_late redelivery, a sweep, a duplicate enqueue)
sends at most once per claim: only a row that is due and not leased can be claimed, and a
delivered or dead-lettered row never is (except through ``redeliver``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from prometheus_client import Counter, Histogram

from extracted.webhooks import domain, signing
from extracted.webhooks.delivery import Sender
from extracted.webhooks.hooks.models import Delivery
from strangler.capability_flags import SideMode

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
    merchant_id: int
    occurrence: str
    decided_mode: str


# Who delivers each claimed row (cutover.py): "extracted" sends, "shadow" records what would have
# been sent, "monolith" leaves it to the monolith's inline path. Raises DecisionUnavailable.
Arbiter = Callable[[list[Claimed]], dict[int, SideMode]]
Run = Callable[[Callable[[Claimed], "_Recorded"], list[Claimed]], Iterable["_Recorded"]]
_MODES: dict[str, SideMode] = {"monolith": "monolith", "shadow": "shadow", "extracted": "extracted"}


# One statement, one round trip: a concurrent claim of the same row waits for this one to
# commit, re-checks the WHERE and finds the row leased, so only one worker sends.
_CLAIM = """
UPDATE webhooks_delivery d SET status = 'sending', lease_until = %(now)s + make_interval(secs => %(lease)s)
FROM webhooks_endpoint e
WHERE d.id = ANY(%(ids)s::bigint[]) AND e.id = d.endpoint_id
  AND ((d.status IN ('pending', 'retrying') AND d.next_attempt_at <= %(now)s + interval '1 second')
       OR (d.status = 'sending' AND d.lease_until < %(now)s))
RETURNING d.id, d.event_id, d.event_name, d.payload, d.attempts, d.max_attempts, e.id, e.url, e.secret,
          e.is_active, d.merchant_id, d.occurrence, d.decided_mode
"""
# the attempt rows and the deliveries' new states for a whole batch, atomically (one statement)
_RECORD = """
WITH r AS (
  SELECT * FROM unnest(%(id)s::bigint[], %(number)s::int[], %(started)s::timestamptz[], %(ms)s::int[],
                       %(address)s::text[], %(code)s::int[], %(error)s::text[], %(excerpt)s::text[],
                       %(status)s::text[], %(retry_in)s::float8[], %(mode)s::text[], %(signature)s::text[],
                       %(logged)s::bool[])
    AS r(id, number, started, ms, address, code, error, excerpt, status, retry_in, mode, signature, logged)),
logged AS (
  INSERT INTO webhooks_attempt (delivery_id, number, started_at, duration_ms, address, response_code,
                                error, response_excerpt)
  SELECT id, number, started, ms, address, code, error, excerpt FROM r WHERE logged)
UPDATE webhooks_delivery d SET status = r.status, attempts = r.number, lease_until = NULL,
  last_error = r.error, last_response_code = r.code, last_attempt_at = %(now)s,
  delivered_at = CASE WHEN r.status = 'delivered' THEN %(now)s END,
  next_attempt_at = %(now)s + make_interval(secs => r.retry_in),
  decided_mode = r.mode, shadow_signature = r.signature
FROM r WHERE d.id = r.id
"""
# claims given back untouched when nobody could say who delivers them
_RELEASE = """
UPDATE webhooks_delivery SET status = CASE WHEN attempts > 0 THEN 'retrying' ELSE 'pending' END,
  lease_until = NULL WHERE id = ANY(%s::bigint[]) AND status = 'sending'
"""


def claim(delivery_ids: list[int], lease: float, now: datetime) -> list[Claimed]:
    with connection.cursor() as cur:
        cur.execute(_CLAIM, {"ids": delivery_ids, "lease": lease, "now": now})
        return [Claimed(*row) for row in cur.fetchall()]


@dataclass
class _Recorded:
    """One row of ``_RECORD``."""

    row: Claimed
    started: datetime
    number: int
    status: str
    mode: str
    seconds: float = 0.0
    address: str = ""
    code: int | None = None
    error: str = ""
    excerpt: str = ""
    retry_in: float | None = None
    signature: str = ""
    logged: bool = False


def lease_for(deliveries: int, attempt_timeout: float) -> float:
    """How long a claim on a batch must hold: every send may take the whole timeout, plus slack."""
    return deliveries * attempt_timeout + 30


def attempt(delivery_id: int, sender: Sender, backoff: domain.Backoff, lease: float,
            arbiter: Arbiter | None = None) -> Next:
    """One delivery (a retry): ``attempt_batch`` of one."""
    return attempt_batch([delivery_id], sender, backoff, lease, arbiter).get(delivery_id, Next(None))


def attempt_batch(delivery_ids: list[int], sender: Sender, backoff: domain.Backoff, lease: float,
                  arbiter: Arbiter | None = None, run: Run = map) -> dict[int, Next]:
    """Claim the due rows among ``delivery_ids`` (one statement), act on each as its mode says,
    record every outcome (one statement). Rows not claimed (delivered, dead, leased, not due)
    are left alone. Without an ``arbiter`` this service delivers everything (no monolith).

    If the arbiter cannot say (``DecisionUnavailable``) the claims are given back and it is raised:
    nothing was sent, nothing is lost; the caller retries later. ``run`` maps the sends over the
    rows: ``map`` one after another, or a thread pool's ``map`` to overlap their network waits
    (nothing in a send touches the database). ``lease`` must cover them all (``lease_for``):
    an expired claim may be taken by a sweep.
    """
    rows = claim(delivery_ids, lease, timezone.now())
    if not rows:
        return {}
    modes: dict[int, SideMode] = {r.id: _MODES.get(r.decided_mode, "extracted") for r in rows}
    undecided = [r for r in rows if not r.decided_mode]
    if arbiter is not None and undecided:
        try:
            modes.update(arbiter(undecided))
        except Exception:
            with connection.cursor() as cur:
                cur.execute(_RELEASE, ([r.id for r in rows],))
            raise
    done = list(run(lambda row: _act(row, modes[row.id], sender, backoff), rows))
    _record(done)
    return {d.row.id: Next(d.retry_in) for d in done}


def _act(row: Claimed, mode: SideMode, sender: Sender, backoff: domain.Backoff) -> _Recorded:
    started = timezone.now()
    if mode == "monolith":  # the monolith's inline path delivered this occurrence
        return _Recorded(row, started, row.attempts, domain.LEGACY, mode)
    if mode == "shadow":  # record what would have gone out, send nothing
        timestamp = int(time.time())
        return _Recorded(row, started, row.attempts, domain.SHADOWED, mode,
                         signature=signing.sign(row.secret, timestamp, row.payload.encode()))
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
    ATTEMPTS.labels(outcome=decision.status).inc()
    LATENCY.observe(seconds)
    if decision.status != domain.DELIVERED:
        _log.info("webhooks.attempt", delivery_id=row.id, endpoint_id=row.endpoint_id, attempt=number,
                  status=decision.status, code=result.response_code, error=error or None)
    return _Recorded(row, started, number, decision.status, mode, seconds, address, result.response_code,
                     error, excerpt[:1024].decode(errors="replace"), decision.retry_in, logged=True)


def _record(done: list[_Recorded]) -> None:
    with connection.cursor() as cur:
        cur.execute(_RECORD, {
            "id": [d.row.id for d in done], "number": [d.number for d in done],
            "started": [d.started for d in done], "ms": [int(d.seconds * 1000) for d in done],
            "address": [d.address for d in done], "code": [d.code for d in done],
            "error": [d.error for d in done], "excerpt": [d.excerpt for d in done],
            "status": [d.status for d in done], "retry_in": [d.retry_in or 0.0 for d in done],
            "mode": [d.mode for d in done], "signature": [d.signature for d in done],
            "logged": [d.logged for d in done], "now": timezone.now()})


class RedeliverRefused(Exception):
    pass


def redeliver(delivery: Delivery, extra_attempts: int) -> None:
    """Merchant's manual redeliver: a fresh attempt budget, due now. Not while one is pending."""
    if delivery.status in (domain.LEGACY, domain.SHADOWED):
        raise RedeliverRefused(
            f"delivery {delivery.pk} was left to the monolith's inline path (capability mode "
            f"{delivery.decided_mode}); this service never sent it. Nothing was changed; "
            "redeliver from the monolith, or after the cutover.")
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
