"""The service's HTTP contract, served by gunicorn from a ledger built by the projector."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from extracted.ledger_query import domain, projector
from tests.acl.helpers import wait_until

REPO = Path(__file__).resolve().parents[3]
KEY = "ps_live_ledger_test_key"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def service(ledger_db: str, tmp_path: Path) -> Iterator[str]:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "paystream.merchant.api_key_issued.v1",
            {
                "key_id": "1",
                "merchant_id": "1",
                "issued_at": "2026-01-01T00:00:00Z",
                "key_hash": hashlib.sha256(KEY.encode()).hexdigest(),
            },
        ),
        (
            "paystream.wallet.opened.v1",
            {
                "wallet_id": "10",
                "customer_id": "3",
                "merchant_id": "1",
                "currency": "INR",
                "status": "active",
                "opened_at": "2026-01-01T00:00:00Z",
            },
        ),
        (
            "paystream.wallet.opened.v1",
            {
                "wallet_id": "11",
                "customer_id": "4",
                "merchant_id": "2",
                "currency": "INR",
                "status": "active",
                "opened_at": "2026-01-01T00:00:00Z",
            },
        ),
    ]
    balance = 0
    for n in range(1, 26):
        balance += n * 100
        events.append(
            (
                "paystream.wallet.credited.v1",
                {
                    "wallet_id": "10",
                    "entry_id": str(n),
                    "kind": "credit",
                    "amount": {"amount": f"{n}.00", "currency": "INR"},
                    "balance_after": {"amount": f"{balance // 100}.00", "currency": "INR"},
                    "reference": None,
                    "description": "top-up" if n == 25 else None,
                    "counterparty_wallet_id": None,
                    "posted_at": f"2026-01-01T00:00:{n:02d}Z",
                },
            )
        )
    with psycopg.connect(ledger_db) as tx:
        for event_type, data in events:
            projector.apply(tx, domain.decide(event_type, data), None)
    port = _port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "STRANGLER_LEDGER_DATABASE_URL": ledger_db,
    }
    with (tmp_path / "ledger.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "extracted.ledger_query.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{port}/readyz"), 60, "the ledger service")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)


def test_balance_history_auth_and_errors_render_in_the_legacy_wire_format(service: str) -> None:
    auth = {"Authorization": f"Api-Key {KEY}"}
    with httpx.Client(base_url=service, headers={"Host": "api.example"}) as http:
        balance = http.get("/api/v1/wallets/10/balance/", headers=auth)
        assert balance.content == (
            b'{"wallet_id":10,"currency":"INR","balance":"325.00",'
            b'"updated_at":"2026-01-01T05:30:25.000000+05:30"}'
        )
        # no event newer than the fixture's and the consumer never ran: honest "unknown", flagged
        assert balance.headers["X-Ledger-Sync-Lag"] == "unknown"
        assert balance.headers["X-Ledger-Sync-Stale"] == "true"
        page = http.get("/api/v1/wallets/10/transactions/?page_size=2", headers=auth).json()
        assert page["count"] == 25 and page["previous"] is None
        assert page["next"] == "http://api.example/api/v1/wallets/10/transactions/?page=2&page_size=2"
        assert page["results"][0] == {
            "id": 25,
            "wallet_id": 10,
            "txn_type": 1,
            "txn_type_display": "CREDIT",
            "amount": "25.00",
            "balance_after": "325.00",
            "status": 1,
            "status_display": "POSTED",
            "reference": "",
            "description": "top-up",
            "related_wallet_id": None,
            "created_at": "2026-01-01T05:30:25.000000+05:30",
        }
        missing = http.get("/api/v1/wallets/10/balance/")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Api-Key"
        assert missing.content == (
            b'{"status":"error","error_code":"AUTHENTICATION_REQUIRED","message":'
            b"\"Authentication required: send 'Authorization: Api-Key <key>'.\","
            b'"errors":{}}'
        )
        wrong = http.get("/api/v1/wallets/10/balance/", headers={"Authorization": "Api-Key nope"})
        assert wrong.status_code == 401 and wrong.json()["error_code"] == "INVALID_API_KEY"
        foreign = http.get("/api/v1/wallets/11/transactions/", headers=auth)
        assert foreign.status_code == 404 and foreign.json()["message"] == "Wallet 11 not found."
        beyond = http.get("/api/v1/wallets/10/transactions/?page=99", headers=auth)
        assert beyond.status_code == 404 and beyond.json()["error_code"] == "NOT_FOUND"
        assert http.get("/metrics").text.count("strangler_ledger_sync_stale 1.0") == 1
