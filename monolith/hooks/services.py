"""Webhook endpoint registration (delivery itself is in ``delivery.py``)."""

from __future__ import annotations

import secrets

from monolith.accounts.models import Merchant
from monolith.common.errors import not_found
from monolith.hooks.models import WebhookEndpoint


def register_endpoint(merchant: Merchant, url: str, events: list[str]) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        merchant=merchant, url=url, events=",".join(events), secret=secrets.token_hex(32)
    )


def delete_endpoint(merchant: Merchant, endpoint_id: int) -> None:
    deleted, _ = WebhookEndpoint.objects.filter(merchant=merchant, pk=endpoint_id).delete()
    if not deleted:
        raise not_found(f"Webhook endpoint {endpoint_id}")
