"""Inline (synchronous) webhook delivery, the legacy way: POST in the request, after commit.

While the extracted webhook service takes over, ``Cutover`` says per occurrence whether
this inline path still delivers (capability ``webhooks.delivery``; see
``extracted/webhooks/cutover.py``).

Each delivery is signed with HMAC-SHA256 of the exact body under the endpoint's
secret (``X-PayStream-Signature: sha256=<hex>``), has a short timeout, and is
logged in ``hooks_webhookdelivery``. Nothing here ever raises into the request:
the money already moved, so a broken receiver must not turn a success into a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from extracted.webhooks.cutover import CAPABILITY, legacy_occurrences, merchant_key
from extracted.webhooks.decisions import Decisions, ModeOf, PgDecisions, decide
from extracted.webhooks.errors import DecisionUnavailable
from monolith.hooks.models import WebhookDelivery, WebhookEndpoint

_log = structlog.get_logger("monolith.webhooks")

EVENTS = frozenset({
    "wallet.credited", "wallet.debited", "transfer.completed", "payout.created",
    "payout.paid", "payout.failed", "kyc.verified", "kyc.rejected",
})
SIGNATURE_HEADER = "X-PayStream-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event: str, data: dict[str, Any]) -> bytes:
    envelope = {
        "id": uuid.uuid4().hex,
        "event": event,
        "created_at": timezone.localtime().isoformat(timespec="microseconds"),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def deliver(endpoint: WebhookEndpoint, event: str, body: bytes) -> WebhookDelivery:
    """POST one event to one endpoint and log the outcome; never raises."""
    request = urllib.request.Request(  # noqa: S310 - URLField only admits http(s) URLs
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "PayStream-Webhooks/1.0",
            "X-PayStream-Event": event,
            SIGNATURE_HEADER: sign(endpoint.secret, body),
        },
    )
    code: int | None = None
    error = ""
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.PAYSTREAM_WEBHOOK_TIMEOUT_SECONDS
        ) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
    except Exception as exc:  # timeouts, refused connections, bad URLs: all just logged
        error = f"{type(exc).__name__}: {exc}"[:255]
    _log.info("webhook.delivered", endpoint_id=endpoint.pk, hook_event=event, code=code,
              error=error)
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event=event, payload=body.decode(), response_code=code, error=error
    )


def fire_event(merchant_id: int, event: str, data: dict[str, Any]) -> int:
    """Deliver ``event`` to every active endpoint of the merchant subscribed to it.

    Returns how many deliveries were attempted. Never raises.
    """
    attempted = 0
    try:
        endpoints = WebhookEndpoint.objects.filter(merchant_id=merchant_id, is_active=True)
        for endpoint in endpoints.order_by("id"):
            if not endpoint.subscribed_to(event):
                continue
            attempted += 1
            deliver(endpoint, event, event_body(event, data))
    except Exception:  # the request already succeeded; see module docstring
        _log.exception("webhook.fire_failed", merchant_id=merchant_id, hook_event=event)
    return attempted


class Cutover:
    """Whether this process's inline path delivers an event, while it is being strangled.

    Asks ``extracted.webhooks.decisions`` for the one recorded decision per occurrence of the
    capability ``webhooks.delivery`` (see ``extracted/webhooks/cutover.py``): ``monolith`` and
    ``shadow`` keep the inline path, ``extracted`` switches it off for that occurrence, and the
    extracted service, which follows the same recorded decision, delivers it instead.
    """

    def __init__(self, mode_of: ModeOf, store: Decisions, capability: str = CAPABILITY) -> None:
        self.mode_of, self.store, self.capability = mode_of, store, capability

    def inline(self, merchant_id: int, event: str, data: dict[str, Any]) -> bool:
        try:
            occurrences = legacy_occurrences(event, data)
        except (KeyError, TypeError):
            occurrences = []  # not shaped as we know it: no counterpart, the legacy path keeps it
        if not occurrences:
            return True
        try:
            modes = decide(self.mode_of, self.store, self.capability,
                           dict.fromkeys(occurrences, merchant_key(merchant_id)), by="monolith")
        except DecisionUnavailable as exc:
            # Unknown who delivers: the legacy path delivers, as before the strangling began.
            # The service, finding no decision for an occurrence the monolith announces,
            # records "monolith" and sends nothing (cutover.py).
            _log.warning("webhook.cutover_unavailable", hook_event=event, error=str(exc))
            return True
        return any(mode != "extracted" for mode in modes.values())


_cutover: Cutover | None = None


def cutover() -> Cutover:
    """The process's ``Cutover``, on the configured control plane (built on first use)."""
    global _cutover
    if _cutover is None:
        from strangler.capability_flags import default_flags
        from strangler.config import get_settings

        _cutover = Cutover(default_flags().mode_of, PgDecisions(get_settings().control_database_url))
    return _cutover


def use_cutover(replacement: Cutover | None) -> None:
    """Tests and wiring: decide with ``replacement`` (None: back to the configured one)."""
    global _cutover
    _cutover = replacement


def fire_on_commit(merchant_id: int, event: str, data: dict[str, Any]) -> None:
    """Fire after the surrounding transaction commits (immediately when there is none).

    Who delivers is decided here, inside the write's transaction: before it commits, hence
    before its domain event can reach the extracted service, which obeys the same decision.
    """
    if not cutover().inline(merchant_id, event, data):
        _log.info("webhook.left_to_service", merchant_id=merchant_id, hook_event=event)
        return
    transaction.on_commit(lambda: fire_event(merchant_id, event, data), robust=True)
