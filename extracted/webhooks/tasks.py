"""Celery tasks: thin, take ids, idempotent (``service.attempt`` claims before sending)."""

from __future__ import annotations

import functools
from typing import Any

from celery import shared_task
from django.utils import timezone

from extracted.webhooks import domain, service
from extracted.webhooks.celery_app import DELIVER_BATCH_TASK, DELIVER_TASK
from extracted.webhooks.config import get_config
from extracted.webhooks.delivery import Limits, Sender


@functools.cache
def _sender() -> Sender:
    """One per worker process (pooled connections), built on first use."""
    c = get_config()
    return Sender(Limits(c.connect_timeout, c.total_timeout, c.max_response_bytes), c.allowed_networks)


@shared_task(name=DELIVER_TASK, bind=True, acks_late=True, max_retries=None)
def deliver(self: Any, delivery_id: int) -> None:
    c = get_config()
    lease = c.total_timeout + 30  # a crashed worker's claim expires after this
    step = service.attempt(delivery_id, _sender(), domain.Backoff(c.backoff_base, c.backoff_cap), lease)
    if step.retry_in is not None:
        raise self.retry(countdown=step.retry_in)


@shared_task(name=DELIVER_BATCH_TASK, acks_late=True)
def deliver_batch(delivery_ids: list[int]) -> None:
    """First attempts of freshly created deliveries; each failure is retried as its own task.

    Attempts run one after another, so one slow receiver delays the rest of its batch by at
    most the attempt timeout; retries never wait behind a batch.
    """
    c = get_config()
    backoff, lease = domain.Backoff(c.backoff_base, c.backoff_cap), c.total_timeout + 30
    for delivery_id in delivery_ids:
        step = service.attempt(delivery_id, _sender(), backoff, lease)
        if step.retry_in is not None:
            deliver.apply_async((delivery_id,), countdown=step.retry_in)


@shared_task(name="webhooks.sweep")
def sweep() -> int:
    """Re-enqueue deliveries that are due but have no task (beat runs this every minute)."""
    ids = service.due_ids(timezone.now(), grace=60)
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)
