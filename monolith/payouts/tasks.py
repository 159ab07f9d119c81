"""Celery tasks of the payouts app. Thin: ids in, the service does the work."""

from __future__ import annotations

from monolith.celery_app import app
from monolith.payouts import services


@app.task(name="monolith.payouts.settle_payout", acks_late=True)
def settle_payout(payout_id: int) -> str:
    """Settle one payout with the bank; idempotent, so a redelivery is harmless."""
    return services.settle_payout(payout_id)
