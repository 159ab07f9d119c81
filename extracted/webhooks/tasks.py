"""Celery tasks: thin, take ids, idempotent (``service.attempt`` claims before sending)."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import shared_task
from django.utils import timezone

from extracted.webhooks import cutover, domain, service
from extracted.webhooks.celery_app import DELIVER_BATCH_TASK, DELIVER_TASK
from extracted.webhooks.config import get_config
from extracted.webhooks.decisions import PgDecisions
from extracted.webhooks.delivery import Limits, Sender
from extracted.webhooks.errors import DecisionUnavailable
from strangler.capability_flags import CapabilityFlags

UNDECIDED_RETRY_SECONDS = 5.0  # the control plane was unreachable: nothing sent, ask again then


@functools.cache
def _sender() -> Sender:
    """One per worker process (pooled connections), built on first use."""
    c = get_config()
    return Sender(Limits(c.connect_timeout, c.total_timeout, c.max_response_bytes), c.allowed_networks,
                  connections_per_host=c.send_concurrency)


@functools.cache
def _sends() -> ThreadPoolExecutor:
    """Threads overlapping one batch's network waits; one pool per worker process, after fork."""
    return ThreadPoolExecutor(get_config().send_concurrency, thread_name_prefix="webhooks-send")


@functools.cache
def _arbiter() -> service.Arbiter | None:
    """Who delivers (cutover.py), from the capability flag; None when no flag is configured."""
    c = get_config()
    if c.capability is None:
        return None
    return cutover.flag_arbiter(c.capability, CapabilityFlags(c.control_database_url).mode_of,
                                PgDecisions(c.control_database_url))


def _steps(deliveries: int) -> tuple[domain.Backoff, float]:
    c = get_config()
    return domain.Backoff(c.backoff_base, c.backoff_cap), service.lease_for(deliveries, c.total_timeout)


@shared_task(name=DELIVER_TASK, bind=True, acks_late=True, max_retries=None)
def deliver(self: Any, delivery_id: int) -> None:
    backoff, lease = _steps(1)
    try:
        step = service.attempt(delivery_id, _sender(), backoff, lease, _arbiter())
    except DecisionUnavailable as exc:  # nothing sent, claim given back: ask again later
        raise self.retry(countdown=UNDECIDED_RETRY_SECONDS, exc=exc) from exc
    if step.retry_in is not None:
        raise self.retry(countdown=step.retry_in)


@shared_task(name=DELIVER_BATCH_TASK, bind=True, acks_late=True, max_retries=None)
def deliver_batch(self: Any, delivery_ids: list[int]) -> None:
    """First attempts of freshly created deliveries; each failure is retried as its own task.

    One claim and one record statement for the whole batch; up to SEND_CONCURRENCY sends in
    flight at once on the worker's pooled keep-alive connections, so a slow receiver delays the
    rest of its batch by at most the attempt timeout; retries never wait behind a batch.
    """
    backoff, lease = _steps(len(delivery_ids))
    try:
        steps = service.attempt_batch(delivery_ids, _sender(), backoff, lease, _arbiter(), _sends().map)
    except DecisionUnavailable as exc:
        raise self.retry(countdown=UNDECIDED_RETRY_SECONDS, exc=exc) from exc
    for delivery_id, step in steps.items():
        if step.retry_in is not None:
            deliver.apply_async((delivery_id,), countdown=step.retry_in)


@shared_task(name="webhooks.sweep")
def sweep() -> int:
    """Re-enqueue deliveries that are due but have no task (beat runs this every minute)."""
    ids = service.due_ids(timezone.now(), grace=60)
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)
