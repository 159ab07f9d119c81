"""End to end on real processes: Tansu broker -> consumer (inbox) -> PostgreSQL -> REAL Celery
worker -> local HTTP receivers; endpoints and the delivery log through the API under gunicorn."""

from __future__ import annotations

import hashlib
import random
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from extracted.webhooks import signing
from extracted.webhooks.consume import WebhooksConsumer
from tests.acl.helpers import wait_until
from tests.extracted.ledger_query.events import message, publish
from tests.extracted_webhooks.conftest import DELIVERY_ATTEMPTS
from tests.extracted_webhooks.receivers import Receiver, refused_port, serving

DEADLINE = 60


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


class Merchant:
    """A merchant announced through events (API key, wallet) with an HTTP client on the API."""

    def __init__(self, api: str, db: str, bootstrap: str) -> None:
        self.id = random.randrange(10**6, 10**9)
        self.wallet = random.randrange(10**9, 10**12)
        self.key = f"ps_test_{self.id}"
        self.db, self.bootstrap = db, bootstrap
        publish(bootstrap, [
            message("paystream.merchant.api_key_issued.v1", "merchant", str(self.id), {
                "key_id": str(self.id), "merchant_id": str(self.id), "issued_at": "2026-01-01T00:00:00Z",
                "key_hash": hashlib.sha256(self.key.encode()).hexdigest()}),
            message("paystream.wallet.opened.v1", "wallet", str(self.wallet), {
                "wallet_id": str(self.wallet), "customer_id": "1", "merchant_id": str(self.id),
                "currency": "INR", "status": "active", "opened_at": "2026-01-01T00:00:00Z"}),
        ])
        wait_until(lambda: bool(rows(db, "SELECT 1 FROM webhooks_owner WHERE ref_id = %s", self.wallet))
                   and bool(rows(db, "SELECT 1 FROM webhooks_api_key WHERE key_id = %s", self.id)),
                   DEADLINE, "the merchant's key and wallet events to be consumed")
        self.http = httpx.Client(base_url=api, headers={"Authorization": f"Api-Key {self.key}"}, timeout=10)

    def endpoint(self, url: str, events: list[str]) -> dict[str, Any]:
        response = self.http.post("/api/v1/webhook-endpoints/", json={"url": url, "events": events})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def credit(self, entry: int, event_id: str | None = None) -> Any:
        return message("paystream.wallet.credited.v1", "wallet", str(self.wallet), {
            "wallet_id": str(self.wallet), "entry_id": str(entry), "kind": "credit",
            "amount": {"amount": "1.00", "currency": "INR"},
            "balance_after": {"amount": "1.00", "currency": "INR"}, "reference": None,
            "description": None, "counterparty_wallet_id": None,
            "posted_at": "2026-01-01T00:00:01Z"}, event_id=event_id)

    def deliveries(self, **params: str) -> list[dict[str, Any]]:
        return list(self.http.get("/api/v1/webhook-deliveries/", params=params).json()["results"])


@pytest.fixture
def merchant(api: str, webhooks_db: str, kafka_bootstrap: str, consumer: WebhooksConsumer,
             worker: subprocess.Popen[bytes]) -> Iterator[Merchant]:
    m = Merchant(api, webhooks_db, kafka_bootstrap)
    yield m
    m.http.close()


def _statuses(m: Merchant) -> dict[str, str]:
    return {d["event_id"] + "@" + str(d["endpoint_id"]): d["status"] for d in m.deliveries()}


def test_subscribed_endpoints_get_one_signed_delivery_per_event_even_when_it_is_redelivered(
        merchant: Merchant) -> None:
    with serving(Receiver()) as credits, serving(Receiver()) as debits_only:
        ep = merchant.endpoint(credits.url, ["wallet.credited"])
        merchant.endpoint(debits_only.url, ["wallet.debited"])
        first = merchant.credit(1)
        publish(merchant.bootstrap, [first, first])  # the broker redelivers the same event id
        wait_until(lambda: credits.count() >= 1, DEADLINE, "the first delivery")
        # a later event on the same partition: once it is delivered, the duplicate was processed
        marker = merchant.credit(2)
        publish(merchant.bootstrap, [first, marker])
        wait_until(lambda: credits.count() >= 2, DEADLINE, "the marker delivery")
        wait_until(lambda: set(_statuses(merchant).values()) == {"delivered"}, DEADLINE, "delivered")
        ids = [r.headers["PayStream-Event-Id"] for r in credits.received]
        assert ids == [first.event_id, marker.event_id]
        assert debits_only.count() == 0
        got = credits.received[0]
        signing.verify(ep["secret"], got.headers[signing.SIGNATURE_HEADER], got.body, now=time.time())
        assert got.headers["PayStream-Event"] == "wallet.credited"
        assert b'"type":"wallet.credited"' in got.body


def test_failures_are_retried_with_backoff_dead_lettered_and_can_be_redelivered(merchant: Merchant) -> None:
    with serving(Receiver(fail_first=1)) as flaky, serving(Receiver("fail500")) as broken, \
         serving(Receiver("hang")) as hanging, serving(Receiver("redirect")) as redirecting:
        endpoints = {name: merchant.endpoint(url, ["*"])["id"] for name, url in [
            ("flaky", flaky.url), ("broken", broken.url), ("hanging", hanging.url),
            ("redirecting", redirecting.url), ("refused", f"http://127.0.0.1:{refused_port()}/hook")]}
        event = merchant.credit(7)
        publish(merchant.bootstrap, [event])

        def settled() -> bool:
            found = merchant.deliveries(event_id=event.event_id)
            return len(found) == 5 and all(d["status"] in ("delivered", "dead_lettered") for d in found)

        wait_until(settled, DEADLINE, "every delivery to be delivered or dead-lettered")
        by_endpoint = {d["endpoint_id"]: d for d in merchant.deliveries(event_id=event.event_id)}
        flaky_d = by_endpoint[endpoints["flaky"]]
        assert (flaky_d["status"], flaky_d["attempts"], flaky_d["last_response_code"]) == (
            "delivered", 2, 200)
        expected = {"broken": (500, "HTTP 500"), "hanging": (None, "timeout"),
                    "redirecting": (307, "HTTP 307: redirects are not followed"),
                    "refused": (None, "ConnectError")}
        for name, (code, error) in expected.items():
            d = by_endpoint[endpoints[name]]
            assert (d["status"], d["attempts"], d["last_response_code"]) == (
                "dead_lettered", DELIVERY_ATTEMPTS, code), name
            assert d["last_error"].startswith(error), (name, d["last_error"])
        assert broken.count() == DELIVERY_ATTEMPTS and redirecting.count() == DELIVERY_ATTEMPTS
        log = merchant.http.get(f"/api/v1/webhook-deliveries/{flaky_d['id']}/").json()["attempt_log"]
        assert [(a["number"], a["response_code"]) for a in log] == [(1, 500), (2, 200)]

        # the receiver is fixed; the merchant redelivers the dead-lettered one by hand
        broken.behaviour = "ok"
        dead = by_endpoint[endpoints["broken"]]
        response = merchant.http.post(f"/api/v1/webhook-deliveries/{dead['id']}/redeliver/")
        assert response.status_code == 202, response.text
        wait_until(lambda: merchant.http.get(f"/api/v1/webhook-deliveries/{dead['id']}/").json()["status"]
                   == "delivered", DEADLINE, "the manual redelivery")
        after = merchant.http.get(f"/api/v1/webhook-deliveries/{dead['id']}/").json()
        assert (after["attempts"], after["last_response_code"], after["last_error"]) == (
            DELIVERY_ATTEMPTS + 1, 200, "")
        assert broken.count() == DELIVERY_ATTEMPTS + 1


def test_api_scopes_to_the_merchant_refuses_private_targets_and_bad_subscriptions(
        merchant: Merchant, api: str) -> None:
    bad = merchant.http.post("/api/v1/webhook-endpoints/", json={"url": "http://10.0.0.5/h", "events": ["*"]})
    assert bad.status_code == 400 and "private" in bad.text and "ALLOWED_NETWORKS" in bad.text
    unknown = merchant.http.post("/api/v1/webhook-endpoints/",
                                 json={"url": "http://127.0.0.1:1/h", "events": ["wallet.exploded"]})
    assert unknown.status_code == 400 and "wallet.exploded" in unknown.text
    mine = merchant.endpoint("http://127.0.0.1:1/h", ["wallet.credited"])
    assert "secret" not in merchant.http.get(f"/api/v1/webhook-endpoints/{mine['id']}/").json()
    patched = merchant.http.patch(f"/api/v1/webhook-endpoints/{mine['id']}/", json={"is_active": False})
    assert patched.json()["is_active"] is False
    with httpx.Client(base_url=api) as anonymous:
        assert anonymous.get("/api/v1/webhook-endpoints/").status_code == 401
        other = anonymous.get(f"/api/v1/webhook-endpoints/{mine['id']}/",
                              headers={"Authorization": "Api-Key ps_test_nobody"})
        assert other.status_code == 401
        health = anonymous.get("/healthz", headers={"X-Request-ID": "req-webhooks-1"})
        assert health.status_code == 200 and health.headers["X-Request-ID"] == "req-webhooks-1"
        assert anonymous.get("/readyz").json() == {"status": "ok", "database": "ok"}
        metrics = anonymous.get("/metrics")
        assert metrics.status_code == 200 and "webhooks_deliveries{status=\"pending\"}" in metrics.text
    assert merchant.http.delete(f"/api/v1/webhook-endpoints/{mine['id']}/").status_code == 204


def test_an_event_whose_wallet_is_not_known_yet_is_parked_then_delivered(merchant: Merchant) -> None:
    late_wallet = random.randrange(10**12, 10**13)
    with serving(Receiver()) as r:
        merchant.endpoint(r.url, ["payout.status_changed"])
        payout = message("paystream.payout.status_changed.v1", "payout", "55", {
            "payout_id": "55", "wallet_id": str(late_wallet), "status": "paid",
            "previous_status": "processing",
            "failure_reason": None, "provider_reference": "ref", "changed_at": "2026-01-01T00:00:00Z"})
        publish(merchant.bootstrap, [payout])
        wait_until(lambda: bool(rows(merchant.db, "SELECT 1 FROM webhooks_unrouted WHERE event_id = %s",
                                     payout.event_id)), DEADLINE, "the payout event to be parked")
        assert r.count() == 0
        publish(merchant.bootstrap, [message("paystream.wallet.opened.v1", "wallet", str(late_wallet), {
            "wallet_id": str(late_wallet), "customer_id": "1", "merchant_id": str(merchant.id),
            "currency": "INR", "status": "active", "opened_at": "2026-01-01T00:00:00Z"})])
        wait_until(lambda: r.count() == 1, DEADLINE, "the parked event's delivery")
        assert r.received[0].headers["PayStream-Event-Id"] == payout.event_id


def test_the_same_delivery_enqueued_again_is_not_sent_again(merchant: Merchant, service_env: dict[str, str],
                                                            worker: subprocess.Popen[bytes]) -> None:
    """Task idempotency on the real worker: a duplicate task (sweep, broker redelivery) claims nothing."""
    from pathlib import Path

    from extracted.webhooks.consume import celery_enqueue

    with serving(Receiver()) as r:
        merchant.endpoint(r.url, ["wallet.credited"])
        first = merchant.credit(11)
        publish(merchant.bootstrap, [first])
        wait_until(lambda: r.count() == 1, DEADLINE, "the first delivery")
        wait_until(lambda: merchant.deliveries(event_id=first.event_id)[0]["status"] == "delivered",
                   DEADLINE, "the delivered status")
        delivered_id = merchant.deliveries(event_id=first.event_id)[0]["id"]
        marker = merchant.credit(12)
        publish(merchant.bootstrap, [marker])
        wait_until(lambda: r.count() == 2, DEADLINE, "the marker delivery")
        marker_id = merchant.deliveries(event_id=marker.event_id)[0]["id"]
        with psycopg.connect(merchant.db) as conn:  # make the marker due again, as a fresh row would be
            conn.execute("UPDATE webhooks_delivery SET status = 'pending', next_attempt_at = now()"
                         " WHERE id = %s", (marker_id,))
        enqueue = celery_enqueue("filesystem://", Path(service_env["STRANGLER_HOME"]) / "celery" / "webhooks")
        enqueue([delivered_id, delivered_id, marker_id])  # one batch, processed in order
        wait_until(lambda: r.count() == 3, DEADLINE, "the re-armed marker")
        ids = [x.headers["PayStream-Event-Id"] for x in r.received]
        assert ids == [first.event_id, marker.event_id, marker.event_id]


def test_an_event_breaking_its_contract_is_dead_lettered_and_creates_nothing(merchant: Merchant) -> None:
    from extracted.webhooks.consume import DEAD_LETTER_TOPIC
    from tests.extracted.ledger_query.events import dead_letters

    bad = message("paystream.wallet.credited.v1", "wallet", str(merchant.wallet),
                  {"wallet_id": str(merchant.wallet), "amount": "not money"})
    publish(merchant.bootstrap, [bad])
    found = dead_letters(merchant.bootstrap, DEAD_LETTER_TOPIC, {bad.event_id}, timeout=DEADLINE)
    assert "ContractViolation" in found[bad.event_id]["dlq_error"]
    assert found[bad.event_id]["dlq_consumer"].startswith("webhooks-")
    created = rows(merchant.db, "SELECT count(*) FROM webhooks_delivery WHERE event_id = %s", bad.event_id)
    assert created == [(0,)]
