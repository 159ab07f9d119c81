"""Strangling the monolith's inline e-mails (capability ``notifications.email``) while traffic flows.

The real monolith (in this process, its real database with ACL capture) writes credits one
after another, each under its own correlation id as a request would; the flag is flipped
monolith -> shadow -> extracted -> monolith -> extracted -> shadow -> extracted meanwhile;
the real relay publishes the captured events to Tansu while the writes go on; the
notification worker consumes them and e-mails an aiosmtpd server process. The flag is
set back to ``monolith`` before the worker has caught up, so events decided under another
mode are in flight across a flip. Every credit must be e-mailed exactly once: by the
monolith (decided monolith or shadow) or by the service (decided extracted), never both,
never neither; shadow ones are recorded by the service and compare equal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.db import connections

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.django import correlation
from acl.ops import ensure_topics, event_topics
from acl.relay import PythonRelay
from extracted.notifications.compare import compare
from extracted.notifications.decisions import LegacyDecisions
from monolith.accounts.services import create_merchant_with_key, create_user
from monolith.hooks.models import NOTIF_SENT, NotificationDecision
from monolith.hooks.notify import CAPABILITY
from monolith.wallets.services import create_wallet, credit
from strangler import capability_flags
from strangler.control.routing.models import Capability
from tests.acl.conftest import django_capture
from tests.acl.helpers import wait_until
from tests.extracted_notifications.conftest import REPO, WorkerFactory, channel_map
from tests.extracted_notifications.records import rows
from tests.extracted_notifications.servers import SmtpServer

__all__ = ["django_capture"]
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "control"])
FLIPS = ["shadow", "extracted", "monolith", "extracted", "shadow", "extracted"]
WRITES_BETWEEN_FLIPS = 4
DEADLINE = 90


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgresql://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _flip(mode: str) -> None:
    Capability.objects.update_or_create(name=CAPABILITY, defaults={"mode": mode})


@pytest.fixture
def flags(monkeypatch: pytest.MonkeyPatch) -> capability_flags.CapabilityFlags:
    """The monolith's flag reader on the test control database, uncached: a flip counts at once."""
    reader = capability_flags.CapabilityFlags(_url("control"), ttl=0.0)
    monkeypatch.setattr(capability_flags, "_default", reader)
    return reader


def test_flips_during_a_stream_of_writes_neither_lose_nor_duplicate_an_email(
        django_capture: None, flags: Any, kafka_bootstrap: str, start_worker: WorkerFactory,
        smtp: SmtpServer, notifications_db: str, tmp_path: Path) -> None:
    legacy_url = _url("default")
    started = datetime.now(UTC) - timedelta(seconds=1)
    merchant, _ = create_merchant_with_key("Flip", "flip@example.com")
    wallets = [create_wallet(merchant, create_user(merchant, external_ref=f"u{i}", full_name=f"User {i}",
                                                   email=f"user{i}@example.com").pk) for i in range(3)]
    _flip("monolith")
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)
    start_worker(LegacyDecisions(legacy_url), channel_map(smtp.port, tmp_path / "out"))
    store, publisher = PgOutboxStore(legacy_url, 64), KafkaPublisher(kafka_bootstrap)
    relay = PythonRelay(store, publisher, ContractRegistry(load_contracts()))
    stop, writes_done = threading.Event(), threading.Event()
    cids: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(WRITES_BETWEEN_FLIPS * (len(FLIPS) + 1)):
                cid = f"flip-{uuid.uuid4().hex[:8]}-{i}"
                with correlation(cid):
                    credit(merchant, wallets[i % 3].pk, 100 + i)
                cids.append(cid)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()
            writes_done.set()

    def relay_loop() -> None:
        while not stop.is_set():
            if not relay.run_once():
                time.sleep(0.02)

    writer, relaying = threading.Thread(target=write), threading.Thread(target=relay_loop)
    writer.start()
    relaying.start()
    try:
        for n, mode in enumerate(FLIPS, start=1):
            enough = n * WRITES_BETWEEN_FLIPS
            wait_until(lambda: len(cids) >= enough or writes_done.is_set(), DEADLINE,  # noqa: B023
                       "the writer to get ahead")
            _flip(mode)
        writer.join(DEADLINE)
        assert not errors, errors
        _flip("monolith")  # the service obeys each event's recorded decision, not the flag of the moment
        decided = dict(NotificationDecision.objects.filter(correlation_id__in=cids)
                       .values_list("correlation_id", "mode"))
        assert sorted(decided) == sorted(cids), "one decision per write"
        assert set(decided.values()) == {"monolith", "shadow", "extracted"}
        by_mode = {mode: {c for c, m in decided.items() if m == mode}
                   for mode in ("monolith", "shadow", "extracted")}

        def service_done() -> bool:
            found = rows(notifications_db, "SELECT count(*) FROM notifications_notification WHERE"
                         " correlation_id = ANY(%s) AND status IN ('sent', 'shadowed')", cids)
            return int(found[0][0]) >= len(by_mode["shadow"]) + len(by_mode["extracted"])

        wait_until(service_done, DEADLINE, "the service to record and send its share")
    finally:
        stop.set()
        relaying.join(30)
        relay.close()
        store.close()
        publisher.close()
    # the monolith e-mailed exactly the monolith- and shadow-decided writes, once each
    legacy_sent = set(NotificationDecision.objects
                      .filter(correlation_id__in=cids, notification__status=NOTIF_SENT)
                      .values_list("correlation_id", flat=True))
    assert legacy_sent == by_mode["monolith"] | by_mode["shadow"]
    assert len(mail.outbox) == len(legacy_sent)
    # the service sent exactly the extracted ones, recorded the shadow ones, ignored the rest
    service = rows(notifications_db, "SELECT correlation_id, status FROM notifications_notification"
                                     " WHERE correlation_id = ANY(%s)", cids)
    assert sorted(c for c, s in service if s == "sent") == sorted(by_mode["extracted"])
    assert sorted(c for c, s in service if s == "shadowed") == sorted(by_mode["shadow"])
    assert len(service) == len(by_mode["shadow"]) + len(by_mode["extracted"])
    wait_until(lambda: len(smtp.messages()) >= len(by_mode["extracted"]), 10, "the service's e-mails")
    assert len(smtp.messages()) == len(by_mode["extracted"])
    assert legacy_sent.isdisjoint(c for c, s in service if s == "sent")
    # shadow evidence: what the monolith sent equals what the service would have
    results = compare(legacy_url, notifications_db, started, datetime.now(UTC) + timedelta(seconds=1))
    assert {r.key[0] for r in results} == by_mode["shadow"]
    assert [r.differences for r in results if not r.matches] == []
    # ... and the same as operators run it
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_NOTIFICATIONS_DATABASE_URL": notifications_db}
    done = subprocess.run([sys.executable, "-m", "extracted.notifications.manage", "compare_notifications",
                           "--hours", "1", "--legacy-database-url", legacy_url, "--fail-on-difference"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{len(by_mode['shadow'])} match, 0 differ" in done.stdout
