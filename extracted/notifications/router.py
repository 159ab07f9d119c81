"""The consumer's handler: one event -> directory upkeep and notification records, in the inbox tx.

For each event, inside the inbox transaction: check the event's version and contract, keep
the directory current (customers and their contacts, wallet owners, payout amounts), and,
for an event that notifies someone, ask who sends it (``decisions``) and insert one record
per opted-in channel (``ON CONFLICT (event_id, channel, recipient) DO NOTHING``): a
redelivered event, already in the inbox, never gets here twice, and a replayed one adds
nothing. The dispatcher sends the records after the commit.

A customer the service has not heard of yet: the customer, wallet and payout events travel
on other topics and may arrive later, so the notification event is parked
(``notifications_parked``) and handled when the missing event arrives. Nothing is guessed
and nothing is lost; the event is acknowledged, not retried or dead-lettered. The same
holds when the monolith's decisions cannot be read: the event waits for a ``decision``
and ``retry_undecided`` routes it again every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from cloudevents.core.base import BaseCloudEvent
from psycopg.types.json import Jsonb

from acl.contracts import ContractRegistry
from acl.domain import DomainEvent
from extracted.notifications import domain
from extracted.notifications.decisions import Decisions, DecisionUnavailable
from extracted.notifications.errors import UnsupportedEvent
from extracted.notifications.templates import Catalogue

_log = structlog.get_logger("notifications.router")

_INSERT = """
INSERT INTO notifications_notification (event_id, channel, recipient, kind, customer_id, locale,
    subject, body, mode, status, attempts, next_attempt_at, last_error, correlation_id, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, now(), '', %s, now())
ON CONFLICT (event_id, channel, recipient) DO NOTHING
"""


class Router:
    """The consumer's handler (a ``BatchHandler``): contract check -> directory -> records, in ``tx``."""

    def __init__(self, registry: ContractRegistry, catalogue: Catalogue, decisions: Decisions,
                 on_committed: Callable[[], None] = lambda: None) -> None:
        self.registry, self.catalogue, self.decisions = registry, catalogue, decisions
        self.on_committed = on_committed

    def apply_batch(self, events: Sequence[BaseCloudEvent], tx: Any) -> None:
        for event in events:
            self.route(event, tx)

    def committed(self) -> None:
        self.on_committed()  # new records are visible: wake the dispatcher

    def __call__(self, event: BaseCloudEvent, tx: Any) -> None:
        self.apply_batch([event], tx)

    def route(self, event: BaseCloudEvent, tx: Any) -> None:
        event_type, data = event.get_type(), event.get_data()
        name = domain.event_name(event_type)  # an unknown version raises: dead-lettered with the reason
        if not isinstance(data, dict):
            raise UnsupportedEvent(event_type, "data is not a JSON object")
        when = event.get_time()
        occurred = when if isinstance(when, datetime) else datetime.now(UTC)
        self.registry.validate(DomainEvent(event_type, "", "", occurred, data))
        correlation = event.get_extension("correlationid")
        cid = str(correlation) if correlation else None
        released = _DIRECTORY.get(name, _nothing)(tx, data)
        with structlog.contextvars.bound_contextvars(event_id=event.get_id(), correlation_id=cid):
            self.notify(tx, event.get_id(), cid, name, data)
        if released is not None:  # events parked while this was unknown can go now
            for event_id, parked_type, parked_data, parked_cid in tx.execute(
                    "DELETE FROM notifications_parked WHERE waiting_kind = %s AND waiting_ref = %s"
                    " RETURNING event_id, event_type, data, correlation_id", released).fetchall():
                self.notify(tx, event_id, parked_cid, domain.event_name(parked_type), parked_data)

    def notify(self, tx: Any, event_id: str, correlation_id: str | None, name: str,
               data: Mapping[str, Any]) -> None:
        occurrence = domain.occurrence(name, data)
        if occurrence is None:
            return
        fields = dict(occurrence.fields)

        def park(kind: str, ref: int) -> None:
            tx.execute("INSERT INTO notifications_parked (event_id, waiting_kind, waiting_ref, event_type,"
                       " data, correlation_id, parked_at) VALUES (%s, %s, %s, %s, %s, %s, now())"
                       " ON CONFLICT (event_id) DO UPDATE SET waiting_kind = EXCLUDED.waiting_kind,"
                       " waiting_ref = EXCLUDED.waiting_ref",
                       (event_id, kind, ref, f"paystream.{name}.v1", Jsonb(dict(data)), correlation_id))
            _log.info("notifications.parked", event_id=event_id, waiting_for=kind, ref=ref)

        try:
            mode = self.decisions.mode_for(correlation_id)
        except DecisionUnavailable as exc:  # kept, not dead-lettered: retried by retry_undecided
            _log.warning("notifications.decision_unavailable", error=str(exc))
            return park("decision", 0)
        if mode == "monolith":
            return  # the monolith's inline path sent it
        if occurrence.payout_id is not None:
            payout = tx.execute("SELECT amount, currency FROM notifications_payout WHERE payout_id = %s",
                                (occurrence.payout_id,)).fetchone()
            if payout is None:
                return park("payout", occurrence.payout_id)
            fields.update(amount=payout[0], currency=payout[1])
        customer_id = occurrence.customer_id
        if customer_id is None and occurrence.wallet_id is not None:
            owner = tx.execute("SELECT customer_id FROM notifications_wallet WHERE wallet_id = %s",
                               (occurrence.wallet_id,)).fetchone()
            if owner is None:
                return park("wallet", occurrence.wallet_id)
            customer_id = int(owner[0])
        if customer_id is None:
            raise UnsupportedEvent(name, "names neither a customer nor a wallet")
        row = tx.execute("SELECT c.email, c.phone, c.full_name, l.locale FROM notifications_customer c"
                         " LEFT JOIN notifications_locale l USING (customer_id) WHERE c.customer_id = %s",
                         (customer_id,)).fetchone()
        if row is None:
            return park("customer", customer_id)
        contact = domain.Contact(customer_id, row[0], row[1], row[2], row[3])
        preferences = [domain.Preference(kind, channel, enabled) for kind, channel, enabled in tx.execute(
            "SELECT kind, channel, enabled FROM notifications_preference WHERE customer_id = %s",
            (customer_id,)).fetchall()]
        fields.update(customer_id=str(customer_id), full_name=contact.full_name)
        text = self.catalogue.render(occurrence.kind, contact.locale, fields)
        for recipient in domain.recipients(occurrence.kind, contact, preferences):
            status = "shadowed" if mode == "shadow" else "skipped" if recipient.skipped else "pending"
            body = text.body if recipient.channel == "email" else text.text
            tx.execute(_INSERT, (event_id, recipient.channel, recipient.address, occurrence.kind, customer_id,
                                 text.locale, text.subject, body, mode, status, correlation_id))


    def retry_undecided(self, database_url: str) -> int:
        """Route again the events parked because the monolith's decisions could not be read."""
        with psycopg.connect(database_url) as conn, conn.transaction():
            parked = conn.execute(
                "DELETE FROM notifications_parked WHERE event_id IN (SELECT event_id"
                " FROM notifications_parked WHERE waiting_kind = 'decision'"
                " ORDER BY parked_at LIMIT 500 FOR UPDATE SKIP LOCKED)"
                " RETURNING event_id, event_type, data, correlation_id").fetchall()
            for event_id, event_type, data, correlation_id in parked:
                self.notify(conn, event_id, correlation_id, domain.event_name(event_type), data)
        if parked:
            self.on_committed()
        return len(parked)


def _customer(tx: Any, d: dict[str, Any]) -> tuple[str, int]:
    changed = d.get("registered_at") or d["changed_at"]
    tx.execute("INSERT INTO notifications_customer (customer_id, email, phone, full_name, changed_at)"
               " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email,"
               " phone = EXCLUDED.phone, full_name = EXCLUDED.full_name, changed_at = EXCLUDED.changed_at"
               " WHERE notifications_customer.changed_at <= EXCLUDED.changed_at",
               (int(d["customer_id"]), d.get("email"), d.get("phone"), d.get("full_name") or "", changed))
    return "customer", int(d["customer_id"])


def _wallet(tx: Any, d: dict[str, Any]) -> tuple[str, int]:
    tx.execute("INSERT INTO notifications_wallet (wallet_id, customer_id) VALUES (%s, %s)"
               " ON CONFLICT (wallet_id) DO NOTHING", (int(d["wallet_id"]), int(d["customer_id"])))
    return "wallet", int(d["wallet_id"])


def _payout(tx: Any, d: dict[str, Any]) -> tuple[str, int]:
    tx.execute("INSERT INTO notifications_payout (payout_id, wallet_id, amount, currency)"
               " VALUES (%s, %s, %s, %s) ON CONFLICT (payout_id) DO NOTHING",
               (int(d["payout_id"]), int(d["wallet_id"]), d["amount"]["amount"], d["amount"]["currency"]))
    return "payout", int(d["payout_id"])


def _nothing(tx: Any, data: dict[str, Any]) -> None:
    return None


_DIRECTORY: dict[str, Callable[[Any, dict[str, Any]], tuple[str, int] | None]] = {
    "customer.registered": _customer,
    "customer.updated": _customer,
    "wallet.opened": _wallet,
    "payout.requested": _payout,
}
