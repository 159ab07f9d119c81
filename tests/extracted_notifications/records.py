"""Test helpers: read and write the service's records, publish events as the relay does."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from acl.domain import DomainEvent
from acl.envelope import OutgoingMessage, to_message
from tests.extracted.ledger_query.events import publish

__all__ = ["publish"]


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def record(url: str, event_id: str, *, channel: str = "email", recipient: str = "asha@example.com",
           status: str = "pending", lease_seconds: float | None = None) -> int:
    """A notification record as the consumer writes it (mode extracted)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO notifications_notification (event_id, channel, recipient, kind, customer_id,"
            " locale, subject, body, mode, status, attempts, next_attempt_at, lease_until, last_error,"
            " correlation_id, created_at) VALUES (%s, %s, %s, 'kyc.verified', 1, 'en', 'Subject ' || %s,"
            " 'Body', 'extracted', %s, 0, now(), now() + make_interval(secs => %s), '', NULL, now())"
            " RETURNING id",
            (event_id, channel, recipient, event_id, status, lease_seconds or 0.0)).fetchone()
    assert row is not None
    return int(row[0])


def state(url: str, row_id: int) -> tuple[str, int, str]:
    found = rows(url, "SELECT status, attempts, last_error FROM notifications_notification"
                      " WHERE id = %s", row_id)
    return found[0][0], int(found[0][1]), str(found[0][2])


def event(event_type: str, aggregate: str, aggregate_id: str, data: dict[str, Any],
          correlation_id: str | None = None, event_id: str | None = None) -> OutgoingMessage:
    domain_event = DomainEvent(event_type, aggregate, aggregate_id, datetime.now(UTC), data)
    return to_message(domain_event, event_id or str(uuid.uuid4()), correlation_id, None)


class Customer:
    """A customer and their wallet, announced through events with fresh random ids."""

    def __init__(self, email: str | None = "", phone: str | None = "+919800000001") -> None:
        self.id = random.randrange(10**6, 10**9)
        self.wallet = random.randrange(10**9, 10**12)
        # the broker lives for the session: a fresh address tells this test's e-mails from others'
        self.email = f"c{self.id}@example.com" if email == "" else email
        self.phone = phone

    def registered(self) -> OutgoingMessage:
        return event("paystream.customer.registered.v1", "customer", str(self.id), {
            "customer_id": str(self.id), "merchant_id": "1", "external_reference": f"c{self.id}",
            "full_name": "Asha", "email": self.email, "phone": self.phone,
            "registered_at": "2026-01-01T00:00:00Z"})

    def wallet_opened(self) -> OutgoingMessage:
        return event("paystream.wallet.opened.v1", "wallet", str(self.wallet), {
            "wallet_id": str(self.wallet), "customer_id": str(self.id), "merchant_id": "1",
            "currency": "INR", "status": "active", "opened_at": "2026-01-01T00:00:00Z"})

    def credit(self, entry: int, correlation_id: str, amount: str = "1.00",
               event_id: str | None = None) -> OutgoingMessage:
        return event("paystream.wallet.credited.v1", "wallet", str(self.wallet), {
            "wallet_id": str(self.wallet), "entry_id": str(entry), "kind": "credit",
            "amount": {"amount": amount, "currency": "INR"},
            "balance_after": {"amount": amount, "currency": "INR"},
            "reference": None, "description": None, "counterparty_wallet_id": None,
            "posted_at": "2026-01-01T00:00:01Z"}, correlation_id, event_id)
