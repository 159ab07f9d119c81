"""DryRunMiddleware on the real monolith: a shadowed credit changes nothing and reports what it would do.

The monolith's own API (django.test.Client), its real PostgreSQL test database
with the anti-corruption-layer capture installed, a real webhook receiver on
127.0.0.1 and Django's test mail outbox. The would-be effects a shadow credit
reports must equal the events a real credit of the same amount produces
(read back with ``OutboxEffects``); a candidate that credits one paisa more must
show as a side-effect difference.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client, override_settings

from monolith.accounts.models import KYC_VERIFIED, User
from monolith.accounts.services import create_merchant_with_key
from monolith.hooks.models import WebhookEndpoint
from monolith.wallets import services
from monolith.wallets.models import Transaction, Wallet
from shadow.dryrun import DryRunMiddleware
from shadow.rules import parse_rules
from shadow.side_effects import HEADER, Effect, OutboxEffects, compare_effects, decode_header

# every alias: the dry run wraps each configured database in its own rolled-back transaction
pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"),
              pytest.mark.usefixtures("shadow_capture")]

# The rolled-back dry run consumed a sequence value (entry ids differ) and ran earlier
# than the real credit (its clock times differ by the test's duration): declared as such.
RULES = parse_rules("""
[capabilities."wallets"]
dry_run = true
side_effects_ignore = ["/*/*/entry_id"]
timestamps = [{ path = "/**", seconds = 60 }]
""").for_capability("wallets")
DRY_RUN = "shadow.dryrun.DryRunMiddleware"
MIDDLEWARE = [m for m in settings.MIDDLEWARE]
MIDDLEWARE.insert(MIDDLEWARE.index("acl.django.CorrelationMiddleware") + 1, DRY_RUN)


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A real webhook receiver: every POST it gets is an outbound HTTP call the monolith made."""
    received: list[bytes] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def published() -> Iterator[list[str]]:
    """Every Celery task the code under test tries to publish (Celery's own signal, no mock)."""
    names: list[str] = []

    def record(sender: str | None = None, **kwargs: Any) -> None:
        names.append(str(sender))

    before_task_publish.connect(record, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(record)


@pytest.fixture
def wallet_api(receiver: tuple[str, list[bytes]]) -> tuple[Wallet, Callable[..., Any]]:
    merchant, key = create_merchant_with_key("Acme", "acme@example.com")
    user = User.objects.create(merchant=merchant, external_ref="c1", full_name="Asha",
                               email="asha@example.com", kyc_status=KYC_VERIFIED)
    wallet = Wallet.objects.create(merchant=merchant, user=user, balance=10_000, limits_locked=False)
    WebhookEndpoint.objects.create(merchant=merchant, url=receiver[0], secret="s3cret",
                                   events="wallet.credited")
    client = Client()

    def credit(amount: int, request_id: str, *, shadow: bool) -> Any:
        headers = {"Authorization": f"Api-Key {key}", "X-Request-ID": request_id}
        if shadow:
            headers["X-Strangler-Shadow"] = "1"
        return client.post(f"/api/v1/wallets/{wallet.pk}/credit/", data={"amount": amount},
                           content_type="application/json", headers=headers)

    return wallet, credit


def _state(wallet: Wallet) -> tuple[int, int]:
    wallet.refresh_from_db()
    return wallet.balance, Transaction.objects.filter(wallet=wallet).count()


def _outbox_rows(correlation_id: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM strangler_acl.outbox WHERE correlation_id = %s",
                       [correlation_id])
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _actual_effects(request_id: str) -> list[Effect]:
    return asyncio.run(OutboxEffects(_database_url()).for_request(request_id))


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_a_shadow_credit_changes_nothing_and_reports_the_effects_a_real_credit_has(
    wallet_api: tuple[Wallet, Callable[..., Any]], receiver: tuple[str, list[bytes]], published: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wallet, credit = wallet_api
    before = _state(wallet)
    shadow_id, buggy_id, real_id = (uuid.uuid4().hex for _ in range(3))

    dry = credit(250, shadow_id, shadow=True)
    assert dry.status_code == 201, dry.content
    assert _state(wallet) == before  # balance and ledger rows untouched
    assert _outbox_rows(shadow_id) == 0 and _actual_effects(shadow_id) == []  # nothing for the relay
    assert receiver[1] == [] and mail.outbox == [] and published == []  # no webhook, email, task
    would_be = decode_header(dry[HEADER])
    assert would_be, "the dry run reported no would-be effects"

    real_credit = services.credit

    def one_paisa_more(merchant: Any, wallet_id: int, amount: int, **fields: Any) -> Transaction:
        return real_credit(merchant, wallet_id, amount + 1, **fields)  # the planted candidate bug

    monkeypatch.setattr(services, "credit", one_paisa_more)
    buggy = credit(250, buggy_id, shadow=True)
    monkeypatch.setattr(services, "credit", real_credit)
    assert buggy.status_code == 201 and _state(wallet) == before
    buggy_would_be = decode_header(buggy[HEADER])
    assert buggy_would_be

    real = credit(250, real_id, shadow=False)
    assert real.status_code == 201, real.content
    assert _state(wallet) == (before[0] + 25_000, before[1] + 1)  # the API takes rupees; rows hold paise
    assert len(receiver[1]) == 1 and len(mail.outbox) == 1  # the real credit's effects do happen
    actual = _actual_effects(real_id)
    assert actual, "the real credit produced no domain events"

    assert sorted(e.type for e in would_be) == sorted(e.type for e in actual)
    assert compare_effects(actual, would_be, RULES) == []
    found = compare_effects(actual, buggy_would_be, RULES)
    assert found and all(d.path.startswith("#effects/") for d in found)
    assert any(d.path.endswith("/amount") and d.kind == "changed" for d in found), found


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_a_request_without_the_shadow_header_is_not_a_dry_run(
    wallet_api: tuple[Wallet, Callable[..., Any]],
) -> None:
    wallet, credit = wallet_api
    before = _state(wallet)
    response = credit(100, uuid.uuid4().hex, shadow=False)
    assert response.status_code == 201 and HEADER not in response
    assert _state(wallet) == (before[0] + 10_000, before[1] + 1)


def test_the_monolith_as_configured_runs_a_shadow_copy_of_a_write_as_a_dry_run(
    wallet_api: tuple[Wallet, Callable[..., Any]],
) -> None:
    """The stack's proxy uses the monolith itself as its shadow secondary: a shadowed write
    (``ledger.write`` in shadow) copied there must not run a second time for real."""
    wallet, credit = wallet_api
    before = _state(wallet)
    request_id = uuid.uuid4().hex
    response = credit(250, request_id, shadow=True)  # the monolith's own settings, no override
    assert response.status_code == 201, response.content
    assert _state(wallet) == before and _outbox_rows(request_id) == 0
    assert decode_header(response[HEADER]), "no would-be effects reported"


def test_the_middleware_is_importable_as_configured() -> None:
    assert f"{DryRunMiddleware.__module__}.{DryRunMiddleware.__qualname__}" == DRY_RUN
