"""Webhook registration and inline delivery (to a real local HTTP server), emails, reports."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail

from monolith.hooks.delivery import SIGNATURE_HEADER, fire_event
from monolith.hooks.models import NOTIF_SENT, Notification, WebhookDelivery, WebhookEndpoint
from monolith.wallets.models import Wallet

from .conftest import Api, error_code

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that records webhook POSTs and answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhook_create_shows_secret_once_and_list_hides_it(api: Api) -> None:
    response = api.post("/api/v1/webhooks/", {"url": "https://example.com/h",
                                              "events": ["wallet.credited", "payout.paid"]})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id", "url", "events", "is_active", "created_at", "secret"]
    assert len(body["secret"]) == 64 and body["events"] == ["wallet.credited", "payout.paid"]
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert listed == [{k: v for k, v in body.items() if k != "secret"}]


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://example.com", "events": ["*"]}, "url"),
    ({"url": "not a url", "events": ["*"]}, "url"),
    ({"url": "https://example.com", "events": []}, "events"),
    ({"url": "https://example.com", "events": ["wallet.exploded"]}, "events"),
    ({"url": "https://example.com", "events": "*"}, "events"),
    ({"url": "https://example.com", "events": [1]}, "events"),
])
def test_invalid_webhook_bodies_are_validation_errors(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/webhooks/", body)
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert field in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_webhook_delete_is_204_and_foreign_delete_is_404(
    api: Api, make_api: Callable[[str], Api]
) -> None:
    other = make_api("Other")
    theirs = other.post("/api/v1/webhooks/", {"url": "https://e.com", "events": ["*"]}).json()
    response = api.delete(f"/api/v1/webhooks/{theirs['id']}/")
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
    mine = api.post("/api/v1/webhooks/", {"url": "https://e.com", "events": ["*"]}).json()
    assert api.delete(f"/api/v1/webhooks/{mine['id']}/").status_code == 204
    assert list(WebhookEndpoint.objects.values_list("id", flat=True)) == [theirs["id"]]


def test_credit_fires_a_signed_webhook_and_emails_the_user_after_commit(
    api: Api, make_wallet: Callable[..., Wallet], receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    hook = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["wallet.credited"]}
                    ).json()
    api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["payout.paid"]})
    wallet = make_wallet(api.merchant)
    with django_capture_on_commit_callbacks(execute=True):
        credit = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "3.00"})
    assert credit.status_code == 201
    assert len(receiver.requests) == 1  # the payout.paid endpoint is not subscribed
    headers, body = receiver.requests[0]
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    event = json.loads(body)
    assert (event["event"], event["data"]["id"]) == ("wallet.credited", credit.json()["id"])
    delivery = WebhookDelivery.objects.get()
    assert (delivery.response_code, delivery.error) == (200, "")
    assert Notification.objects.get().status == NOTIF_SENT
    assert mail.outbox[0].to == [wallet.user.email]


def test_a_failing_receiver_is_logged_and_never_fails_the_request(
    api: Api, make_wallet: Callable[..., Wallet], receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    receiver.status = 500
    api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["*"]})
    api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/unreachable", "events": ["*"]})
    wallet = make_wallet(api.merchant)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "1"})
    assert response.status_code == 201
    outcomes = sorted((d.response_code or 0, bool(d.error)) for d in WebhookDelivery.objects.all())
    assert outcomes == [(0, True), (500, True)]


def test_fire_event_with_no_endpoints_attempts_nothing(api: Api) -> None:
    assert fire_event(api.merchant.pk, "wallet.credited", {}) == 0


def test_daily_report_sums_credits_and_debits_per_day(
    api: Api, make_wallet: Callable[..., Wallet]
) -> None:
    wallet = make_wallet(api.merchant)
    api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "10.00"})
    api.post(f"/api/v1/wallets/{wallet.pk}/debit/", {"amount": "2.50"})
    from django.utils import timezone

    today = timezone.localdate()
    start = today - timedelta(days=1)
    response = api.get(f"/api/v1/reports/daily/?from={start}&to={today}")
    assert response.status_code == 200
    assert response.json() == {"from": str(start), "to": str(today), "days": [
        {"date": str(start), "credits": "0.00", "debits": "0.00", "count": 0},
        {"date": str(today), "credits": "10.00", "debits": "2.50", "count": 2},
    ]}


@pytest.mark.parametrize("query", [
    "", "from=2026-01-01", "from=2026-13-01&to=2026-12-01", "from=2026-01-02&to=2026-01-01",
    "from=2024-01-01&to=2025-01-01", "from=20260101&to=2026-01-02",
])
def test_bad_report_ranges_are_validation_errors(api: Api, query: str) -> None:
    response = api.get(f"/api/v1/reports/daily/?{query}")
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")


def test_a_366_day_report_is_allowed(api: Api) -> None:
    start = date(2024, 1, 1)
    response = api.get(f"/api/v1/reports/daily/?from={start}&to={start + timedelta(days=365)}")
    assert response.status_code == 200 and len(response.json()["days"]) == 366
