"""Flipping ``webhooks.delivery`` in the middle of a stream of monolith writes loses nothing and
sends nothing twice: every credit reaches the receiver exactly once, from the monolith's inline
path or from the extracted service, whichever the one recorded decision named.

All real: the monolith's ORM and services on pytest-django's database with ACL capture, the
Python relay to the session's Tansu broker, the service's consumer (inbox) and a REAL Celery
worker, the control plane's tables for the flag and the decisions, a local HTTP receiver.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.ops import ensure_topics, event_topics
from acl.relay import PythonRelay
from extracted.webhooks import parity
from extracted.webhooks.consume import WebhooksConsumer
from extracted.webhooks.cutover import CAPABILITY
from extracted.webhooks.decisions import PgDecisions
from monolith.accounts.services import create_merchant_with_key
from monolith.hooks import delivery
from monolith.hooks.models import WebhookEndpoint
from monolith.wallets import services as wallets
from strangler.capability_flags import CapabilityFlags
from strangler.control.routing import services as control
from tests.acl.conftest import django_capture
from tests.acl.helpers import wait_until
from tests.extracted.ledger_query.events import message, publish
from tests.extracted_webhooks.conftest import _spawn, _stop
from tests.extracted_webhooks.receivers import Receiver, refused_port, serving
from tests.monolith.conftest import make_user, make_wallet

__all__ = ["django_capture", "make_user", "make_wallet"]
pytestmark = [pytest.mark.django_db(databases=["default", "control"], transaction=True),
              pytest.mark.usefixtures("django_capture")]
DEADLINE = 90


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgresql://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture
def control_url() -> str:
    return _url("control")


@pytest.fixture
def flagged_worker(service_env: dict[str, str], control_url: str,
                   tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The service's worker, obeying the capability flag and decisions in the test control DB."""
    env = {**service_env, "STRANGLER_CONTROL_DATABASE_URL": control_url,
           "STRANGLER_WEBHOOKS_CAPABILITY": CAPABILITY}
    log = tmp_path / "flagged-worker.log"
    proc = _spawn(["celery", "-A", "extracted.webhooks.celery_app", "worker", "-Q", "webhooks",
                   "--pool=threads", "--concurrency=4", "--loglevel=INFO", "--without-gossip",
                   "--without-mingle", "--without-heartbeat", "-n", f"flip-{uuid.uuid4().hex[:6]}@%h"],
                  env, log)
    yield proc
    _stop(proc, log)


@pytest.fixture
def relay(kafka_bootstrap: str) -> Iterator[None]:
    """The Python relay draining the monolith's outbox to Kafka, in a thread, until the test ends."""
    ensure_topics(kafka_bootstrap, event_topics())
    running = PythonRelay(PgOutboxStore(_url("default"), 64), KafkaPublisher(kafka_bootstrap),
                          ContractRegistry(load_contracts()))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not running.run_once():
                stop.wait(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)


@pytest.fixture
def monolith_cutover(control_url: str) -> Iterator[None]:
    """The monolith decides with the test control DB, reading the flag afresh on every write."""
    delivery.use_cutover(delivery.Cutover(CapabilityFlags(control_url, ttl=0).mode_of,
                                          PgDecisions(control_url)))
    yield
    delivery.use_cutover(None)


def _rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _reached(items: list[Any], n: int) -> bool:
    return len(items) >= n


def _who_delivered(receiver: Receiver) -> Counter[tuple[str, str]]:
    """(ledger entry id, "monolith" | "service") for every request the receiver got."""
    seen: Counter[tuple[str, str]] = Counter()
    for request in receiver.received:
        body = json.loads(request.body)
        if "x-paystream-signature" in {name.lower() for name in request.headers}:
            seen[(str(body["data"]["id"]), "monolith")] += 1
        elif body["type"] == "wallet.credited":
            seen[(str(body["data"]["entry_id"]), "service")] += 1
    return seen


def test_flips_during_a_stream_of_credits_deliver_each_credit_exactly_once(
    webhooks_db: str, control_url: str, consumer: WebhooksConsumer, flagged_worker: Any,
    relay: None, monolith_cutover: None, make_wallet: Callable[..., Any],
) -> None:
    control.declare_capability(CAPABILITY, reason="strangle the inline webhooks", actor="test")
    since = timezone.now() - timedelta(seconds=1)
    with serving(Receiver()) as receiver:
        merchant, _ = create_merchant_with_key("Flip", "flip@example.com")
        wallet = make_wallet(merchant)
        WebhookEndpoint.objects.create(merchant=merchant, url=receiver.url, secret="legacy", events="*")
        with psycopg.connect(webhooks_db) as conn:
            conn.execute("INSERT INTO webhooks_endpoint (merchant_id, url, secret, events, description,"
                         " is_active, created_at, updated_at) VALUES (%s, %s, 'whsec_flip',"
                         " '[\"wallet.credited\"]', '', true, now(), now())", (merchant.pk, receiver.url))
        wait_until(lambda: bool(_rows(webhooks_db, "SELECT 1 FROM webhooks_owner WHERE ref_id = %s",
                                      wallet.pk)), DEADLINE, "the wallet.opened event to reach the service")

        # The flips run in their own thread while credits keep coming. Flip k starts once
        # plan[k] credits are done and must land before 5 more: it races with writes in flight,
        # and every mode still gets some of the stream.
        credited: list[int] = []
        plan = [(15, "shadow"), (30, "extracted"), (45, "monolith"), (60, "extracted")]
        flips_done: list[str] = []

        def flipper() -> None:
            try:
                for after, mode in plan:
                    wait_until(functools.partial(_reached, credited, after), DEADLINE, f"{after} credits")
                    if mode == "monolith":
                        control.rollback(CAPABILITY, reason="flip test: back", actor="test")
                    else:
                        control.flip(CAPABILITY, mode, reason="flip test", actor="test", force=True)
                    flips_done.append(mode)
            finally:
                connections.close_all()

        thread = threading.Thread(target=flipper)
        thread.start()
        try:
            for i in range(75):
                due = sum(after + 5 <= i for after, _ in plan)
                wait_until(functools.partial(_reached, flips_done, due), DEADLINE, f"flip {due}")
                credited.append(wallets.credit(merchant, wallet.pk, 100 + i).pk)
        finally:
            thread.join(DEADLINE)
        assert flips_done == [mode for _, mode in plan]

        decided = dict(_rows(control_url, "SELECT occurrence, mode FROM strangler_side_decision"
                                          " WHERE capability = %s", CAPABILITY))
        modes = {entry: decided[f"ledger:{entry}"] for entry in credited}
        assert set(modes.values()) == {"monolith", "shadow", "extracted"}  # the stream crossed the flips

        def settled() -> bool:
            rows = _rows(webhooks_db, "SELECT count(*) FILTER (WHERE status IN ('delivered', 'shadowed',"
                                      " 'legacy')), count(*) FROM webhooks_delivery")
            return rows[0] == (len(credited), len(credited))

        wait_until(settled, DEADLINE, "every credit's service delivery to be final")
        wait_until(lambda: sum(_who_delivered(receiver).values()) >= len(credited), DEADLINE,
                   "a delivery per credit")
        seen = _who_delivered(receiver)

    assert all(n == 1 for n in seen.values()), {k: n for k, n in seen.items() if n > 1}
    by_entry = {entry: side for entry, side in seen}
    assert sorted(int(e) for e in by_entry) == sorted(credited)  # none lost, none extra
    for entry in credited:
        expected = "service" if modes[entry] == "extracted" else "monolith"
        assert by_entry[str(entry)] == expected, (entry, modes[entry])
    statuses = {occ: (status, signature) for occ, status, signature in _rows(
        webhooks_db, "SELECT occurrence, status, shadow_signature FROM webhooks_delivery")}
    assert {(modes[e], statuses[f"ledger:{e}"][0]) for e in credited} == {
        ("monolith", "legacy"), ("shadow", "shadowed"), ("extracted", "delivered")}
    assert all(statuses[f"ledger:{e}"][1].startswith("t=") for e in credited if modes[e] == "shadow")

    # the shadow comparison: what the monolith sent against what the service would have
    result = parity.compare(parity.load_legacy(_url("default"), since),
                            parity.load_service(webhooks_db, since))
    differing = {p.occurrence for p in result.differing}
    assert differing == {f"ledger:{e}" for e in credited if modes[e] == "extracted"}  # service-only
    assert result.matched == sum(m != "extracted" for m in modes.values())


def test_while_the_control_plane_is_unreachable_nothing_is_sent_and_nothing_is_lost(
    webhooks_db: str, kafka_bootstrap: str, control_url: str, service_env: dict[str, str],
    consumer: WebhooksConsumer, tmp_path: Path,
) -> None:
    control.declare_capability(CAPABILITY, reason="strangle", actor="test")
    control.flip(CAPABILITY, "extracted", reason="cut over", actor="test", force=True)
    merchant, wallet = random.randrange(10**6, 10**9), random.randrange(10**9, 10**12)
    with serving(Receiver()) as receiver, psycopg.connect(webhooks_db) as conn:
        conn.execute("INSERT INTO webhooks_endpoint (merchant_id, url, secret, events, description,"
                     " is_active, created_at, updated_at) VALUES (%s, %s, 's', '[\"*\"]', '', true, now(),"
                     " now())", (merchant, receiver.url))
        conn.commit()
        publish(kafka_bootstrap, [
            message("paystream.wallet.opened.v1", "wallet", str(wallet), {
                "wallet_id": str(wallet), "customer_id": "1", "merchant_id": str(merchant), "currency": "INR",
                "status": "active", "opened_at": "2026-01-01T00:00:00Z"})])
        unreachable = {**service_env, "STRANGLER_WEBHOOKS_CAPABILITY": CAPABILITY,
                       "STRANGLER_CONTROL_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{refused_port()}/x"}
        log = tmp_path / "cut-off-worker.log"
        cut_off = _spawn(["celery", "-A", "extracted.webhooks.celery_app", "worker", "-Q", "webhooks",
                          "--pool=threads", "--concurrency=2", "--loglevel=INFO", "--without-gossip",
                          "--without-mingle", "--without-heartbeat", "-n", f"cut-{uuid.uuid4().hex[:6]}@%h"],
                         unreachable, log)
        try:
            wait_until(lambda: "DecisionUnavailable" in log.read_text(errors="replace"), DEADLINE,
                       "the worker to find the control plane unreachable")
            assert receiver.count() == 0
            assert _rows(webhooks_db, "SELECT status, attempts FROM webhooks_delivery") == [("pending", 0)]
        finally:
            _stop(cut_off, log)
        env = {**service_env, "STRANGLER_WEBHOOKS_CAPABILITY": CAPABILITY,
               "STRANGLER_CONTROL_DATABASE_URL": control_url}
        log = tmp_path / "worker.log"
        worker = _spawn(["celery", "-A", "extracted.webhooks.celery_app", "worker", "-Q", "webhooks",
                         "--pool=threads", "--concurrency=2", "--loglevel=INFO", "--without-gossip",
                         "--without-mingle", "--without-heartbeat", "-n", f"back-{uuid.uuid4().hex[:6]}@%h"],
                        env, log)
        try:  # the retried task reaches the worker that can read the flag, and it delivers once
            wait_until(lambda: receiver.count() == 1, DEADLINE, "the delivery once the flag is readable")
            wait_until(lambda: _rows(webhooks_db, "SELECT status FROM webhooks_delivery") == [("delivered",)],
                       DEADLINE, "the delivery to be recorded")
        finally:
            _stop(worker, log)
        assert receiver.count() == 1
