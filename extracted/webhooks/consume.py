"""Entry point of the event consumer: ``python -m extracted.webhooks.consume``.

Domain events -> delivery rows, through the ACL consumer library (inbox in this
service's database, exactly-once effects, dead-letter topic). For each event the handler,
inside the inbox transaction: checks the contract, keeps the ownership and API-key tables
current, and inserts one ``pending`` delivery per subscribed active endpoint of the owning
merchant (``ON CONFLICT (event_id, endpoint) DO NOTHING``). An event whose wallet or
customer is not known yet is parked and routed when the opening event arrives. After the transaction commits,
the new delivery ids are enqueued to Celery; a periodic sweep re-enqueues any whose
enqueue was lost (crash between commit and enqueue).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
import structlog
from cloudevents.core.base import BaseCloudEvent

from acl.adapters.pg_inbox import PgInboxStore
from acl.consumer import EventConsumer
from acl.contracts import ContractRegistry, load_contracts
from acl.domain import DomainEvent
from acl.metrics import ConsumerMetrics
from acl.ops import ensure_topics
from extracted.webhooks import cutover, domain
from extracted.webhooks.errors import UnsupportedEvent

GROUP = "webhooks"
TOPICS = ["paystream.wallet", "paystream.kyc", "paystream.payout", "paystream.customer", "paystream.merchant"]
DEAD_LETTER_TOPIC = "paystream.dead-letter.webhooks"
Enqueue = Callable[[list[int]], None]
_log = structlog.get_logger("webhooks.consume")


class Router:
    """The consumer's handler: contract check -> bookkeeping or fan-out, in ``tx``.

    A ``BatchHandler``: the delivery ids of a transaction are staged and become ``created``
    only once it committed, so ids of a rolled-back batch are never enqueued.
    """

    owners_cached = 100_000  # wallet/customer -> merchant answers kept (an owner never changes)

    def __init__(self, registry: ContractRegistry, max_attempts: int) -> None:
        self.registry, self.max_attempts = registry, max_attempts
        self.created: list[int] = []  # delivery ids of committed transactions, until taken
        self._staged: list[int] = []
        self._fan_outs: list[FanOut] = []  # this transaction's, inserted together at its end
        self._owners: dict[tuple[str, int], int] = {}  # read from committed rows only
        self._owners_staged: dict[tuple[str, int], int] = {}

    def apply_batch(self, events: Sequence[BaseCloudEvent], tx: Any) -> None:
        self._staged = []  # a replayed batch starts over: the failed transaction rolled back
        self._owners_staged = {}
        self._fan_outs = []
        for event in events:
            self.route(event, tx)
        # one statement for the whole batch: deliveries depend only on endpoints, which
        # nothing in this transaction changes, so inserting them last changes no outcome
        self._staged += fan_out_many(tx, self._fan_outs, self.max_attempts)
        self._fan_outs = []

    def committed(self) -> None:
        self.created += self._staged
        self._staged = []
        if len(self._owners) > self.owners_cached:
            self._owners.clear()
        self._owners.update(self._owners_staged)
        self._owners_staged = {}

    def __call__(self, event: BaseCloudEvent, tx: Any) -> None:
        """One event in its own transaction (the plain handler form)."""
        self.apply_batch([event], tx)

    def route(self, event: BaseCloudEvent, tx: Any) -> None:
        event_type, data = event.get_type(), event.get_data()
        if not isinstance(data, dict):
            raise UnsupportedEvent(event_type, "data is not a JSON object")
        when = event.get_time()
        occurred = when if isinstance(when, datetime) else None
        self.registry.validate(DomainEvent(event_type, "", "", occurred or datetime.now(UTC), data))
        name = domain.webhook_event_name(event_type)
        _BOOKKEEPING.get(name, _nothing)(tx, data)
        if name not in domain.DELIVERABLE:
            return
        body = domain.payload(event.get_id(), name, occurred, data)
        owner = domain.owner_of(name, data)
        merchant_id = owner.merchant_id
        if merchant_id is None:
            merchant_id = self._merchant_or_park(tx, event.get_id(), name, body, owner)
        if merchant_id is not None:
            self._fan_outs.append(FanOut(event.get_id(), name, body, merchant_id,
                                         occurrence_of(event.get_id(), name, data)))
        if name in _OWNER_EVENTS:  # events parked while this owner was unknown can go now
            kind, field = _OWNER_EVENTS[name]
            for event_id, parked_name, parked_body in tx.execute(
                "DELETE FROM webhooks_unrouted WHERE kind = %s AND ref_id = %s"
                " RETURNING event_id, event_name, payload", (kind, int(data[field]))).fetchall():
                self._fan_outs.append(FanOut(
                    event_id, parked_name, parked_body, int(data["merchant_id"]),
                    occurrence_of(event_id, parked_name, json.loads(parked_body)["data"])))

    def _merchant_or_park(self, tx: Any, event_id: str, name: str, body: str,
                          owner: domain.Owner) -> int | None:
        by_wallet = owner.wallet_id is not None
        kind, ref = ("wallet", owner.wallet_id) if by_wallet else ("customer", owner.customer_id)
        assert ref is not None  # owner_of names one of them
        cached = self._owners.get((kind, ref)) or self._owners_staged.get((kind, ref))
        if cached is not None:
            return cached
        row = tx.execute("SELECT merchant_id FROM webhooks_owner WHERE kind = %s AND ref_id = %s",
                         (kind, ref)).fetchone()
        if row is not None:
            # kept once this transaction commits: a row it wrote itself may yet roll back
            self._owners_staged[(kind, ref)] = int(row[0])
            return int(row[0])
        # its opening event travels on another topic and may come later: park, route on arrival
        tx.execute("INSERT INTO webhooks_unrouted (event_id, kind, ref_id, event_name, payload, received_at)"
                   " VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (event_id) DO NOTHING",
                   (event_id, kind, ref, name, body))
        return None


def occurrence_of(event_id: str, name: str, data: dict[str, Any]) -> str:
    """What happened, named as the monolith's inline path names it (``cutover``)."""
    return cutover.occurrence_of(name, event_id, data)


class FanOut(NamedTuple):
    """One event to fan out to its merchant's subscribed endpoints."""

    event_id: str
    name: str
    body: str
    merchant_id: int
    occurrence: str


_FAN_OUT_MANY = """
INSERT INTO webhooks_delivery (event_id, endpoint_id, merchant_id, event_name, payload, status, attempts,
                               max_attempts, next_attempt_at, last_error, created_at, occurrence)
SELECT f.event_id, e.id, e.merchant_id, f.name, f.body, 'pending', 0, %s, now(), '', now(), f.occurrence
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[]) WITH ORDINALITY
     AS f(event_id, name, body, merchant_id, occurrence, ord)
JOIN webhooks_endpoint e ON e.merchant_id = f.merchant_id AND e.is_active
                        AND (e.events ? f.name OR e.events ? '*')
ORDER BY f.ord, e.id
ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING id
"""


def fan_out_many(tx: Any, fan_outs: Sequence[FanOut], max_attempts: int) -> list[int]:
    """One pending delivery per subscribed active endpoint of each event's merchant, never a
    second one for the same (event, endpoint) pair; one round trip for the whole batch."""
    if not fan_outs:
        return []
    columns = list(zip(*fan_outs, strict=True))
    # binary: text arrays in the text format are escaped element by element (a regex per body)
    rows = tx.execute(_FAN_OUT_MANY, (max_attempts, *(list(c) for c in columns)), binary=True).fetchall()
    return [int(r[0]) for r in rows]


def _own(kind: str, field: str) -> Callable[[Any, dict[str, Any]], None]:
    def remember(tx: Any, data: dict[str, Any]) -> None:
        tx.execute("INSERT INTO webhooks_owner (kind, ref_id, merchant_id) VALUES (%s, %s, %s)"
                   " ON CONFLICT (kind, ref_id) DO NOTHING",
                   (kind, int(data[field]), int(data["merchant_id"])))
    return remember


def _key_issued(tx: Any, d: dict[str, Any]) -> None:
    tx.execute("INSERT INTO webhooks_api_key (key_id, merchant_id, key_hash, issued_at)"
               " VALUES (%s, %s, %s, %s) ON CONFLICT (key_id) DO NOTHING",
               (int(d["key_id"]), int(d["merchant_id"]), d["key_hash"], d["issued_at"]))


def _key_revoked(tx: Any, d: dict[str, Any]) -> None:
    tx.execute("UPDATE webhooks_api_key SET revoked_at = coalesce(revoked_at, %s) WHERE key_id = %s",
               (d["revoked_at"], int(d["key_id"])))


def _merchant_status(tx: Any, d: dict[str, Any]) -> None:
    tx.execute("INSERT INTO webhooks_merchant (merchant_id, active, changed_at) VALUES (%s, %s, %s)"
               " ON CONFLICT (merchant_id) DO UPDATE SET active = EXCLUDED.active,"
               " changed_at = EXCLUDED.changed_at WHERE webhooks_merchant.changed_at <= EXCLUDED.changed_at",
               (int(d["merchant_id"]), d["active"], d["changed_at"]))


def _nothing(tx: Any, data: dict[str, Any]) -> None:
    return None


_OWNER_EVENTS = {"wallet.opened": ("wallet", "wallet_id"), "customer.registered": ("customer", "customer_id")}
_BOOKKEEPING: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "wallet.opened": _own("wallet", "wallet_id"),
    "customer.registered": _own("customer", "customer_id"),
    "merchant.api_key_issued": _key_issued,
    "merchant.api_key_revoked": _key_revoked,
    "merchant.status_changed": _merchant_status,
}


class WebhooksConsumer:
    """Runs the event consumer; enqueues committed deliveries in batches; sweeps now and then.

    Ids are flushed to Celery when ``batch_size`` have gathered, ``linger`` seconds after the
    first one, or as soon as the broker has nothing more: one task per batch amortises the
    broker round trip, which costs more than the delivery itself on a small box.
    """

    sweep_interval = 30.0
    batch_size = 50
    linger = 0.02  # seconds an id may wait for companions

    def __init__(self, consumer: EventConsumer, router: Router, enqueue: Enqueue,
                 database_url: str, sweep_grace: float = 300.0) -> None:
        self.consumer, self.router, self.enqueue = consumer, router, enqueue
        self.database_url, self.sweep_grace = database_url, sweep_grace
        self._last_sweep = time.monotonic()
        self._pending: list[int] = []
        self._first_pending = 0.0

    def poll_once(self, timeout: float) -> bool:
        self.router.created = []
        handled = self.consumer.poll_once(self.linger if self._pending else timeout)
        if self.router.created:  # committed: a rolled-back batch never reaches created
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending += self.router.created
        if self._pending and (not handled or len(self._pending) >= self.batch_size
                              or time.monotonic() - self._first_pending >= self.linger):
            self.flush()
        if time.monotonic() - self._last_sweep > self.sweep_interval:
            self.sweep()
        return handled

    def flush(self) -> None:
        ids, self._pending = self._pending, []
        if ids:
            self.enqueue(ids)

    def sweep(self) -> int:
        self._last_sweep = time.monotonic()
        with psycopg.connect(self.database_url) as conn:
            ids = [int(r[0]) for r in conn.execute(
                "SELECT id FROM webhooks_delivery WHERE (status IN ('pending', 'retrying')"
                " AND next_attempt_at < now() - make_interval(secs => %s))"
                " OR (status = 'sending' AND lease_until < now()) ORDER BY id LIMIT 1000",
                (self.sweep_grace,)).fetchall()]
        if ids:
            _log.warning("webhooks.sweep_reenqueued", count=len(ids))
            self.enqueue(ids)
        return len(ids)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once(0.2)
            self.flush()
        finally:
            self.consumer.close()


def celery_enqueue(broker_url: str, folder: Any, batch_size: int = 50) -> Enqueue:
    from extracted.webhooks.celery_app import DELIVER_BATCH_TASK, QUEUE, make_app

    app = make_app(broker_url, folder)

    def enqueue(ids: list[int]) -> None:
        for start in range(0, len(ids), batch_size):
            app.send_task(DELIVER_BATCH_TASK, args=[ids[start:start + batch_size]], queue=QUEUE)
    return enqueue


def build(database_url: str, bootstrap_servers: str, enqueue: Enqueue, *, group: str = GROUP,
          max_attempts: int = 3, delivery_attempts: int = 8,
          metrics: ConsumerMetrics | None = None) -> WebhooksConsumer:
    """The one wiring point of the consumer process (tests and the bench call it too)."""
    ensure_topics(bootstrap_servers, [*TOPICS, DEAD_LETTER_TOPIC])
    router = Router(ContractRegistry(load_contracts()), delivery_attempts)
    consumer = EventConsumer(bootstrap_servers, group, TOPICS, router, PgInboxStore(database_url),
                             DEAD_LETTER_TOPIC, max_attempts, metrics, overrides={"fetch.wait.max.ms": 10})
    return WebhooksConsumer(consumer, router, enqueue, database_url)


def main(argv: Sequence[str] | None = None) -> None:
    from extracted.webhooks.config import get_config
    from extracted.worker import start_worker, stop_on_signals, worker_parser

    parser = worker_parser("python -m extracted.webhooks.consume",
                           "Turn domain events into webhook deliveries.", GROUP)
    args = parser.parse_args(argv)
    bootstrap = start_worker(args)
    config = get_config()
    service = build(config.database_url, bootstrap, celery_enqueue(config.broker_url, config.broker_folder),
                    group=args.group, delivery_attempts=config.max_attempts, metrics=ConsumerMetrics.create())
    stop = stop_on_signals()
    _log.info("webhooks.consumer_started", group=args.group, topics=TOPICS)
    service.run(stop)


if __name__ == "__main__":
    main()
