"""Test helpers: the ledger service as a real gunicorn process, and state put into its database.

``serve`` runs ``extracted.ledger_query.wsgi`` with threads (concurrent requests really
meet in PostgreSQL); ``LedgerState`` writes the ledger's state the way it arrives in
production, as domain events through the projector.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

from extracted.ledger_query import domain, projector
from tests.acl.helpers import wait_until

REPO = Path(__file__).resolve().parents[3]
OPENED = "2026-01-01T00:00:00Z"


def django_database_url(alias: str) -> str:
    """The URL of a Django database alias as the test run set it up (its ``test_*`` database)."""
    from django.db import connections

    s = connections[alias].settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgresql://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextmanager
def serve(ledger_url: str, log: Path, *, workers: int = 2, threads: int = 8) -> Iterator[str]:
    """The ledger service on a free port; yields its base URL and stops it afterwards."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_LEDGER_DATABASE_URL": ledger_url}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "extracted.ledger_query.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
             "--threads", str(threads)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{port}/readyz"), 60, "the ledger service")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)


class LedgerState:
    """Puts merchants, keys and wallets into a ledger database, as their events would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._entry = 0

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        with psycopg.connect(self.url) as tx:
            projector.apply(tx, domain.decide(event_type, data), None)

    def api_key(self, key_id: int, merchant_id: int, raw: str) -> None:
        self.apply("paystream.merchant.api_key_issued.v1", {
            "key_id": str(key_id), "merchant_id": str(merchant_id), "issued_at": OPENED,
            "key_hash": hashlib.sha256(raw.encode()).hexdigest()})

    def wallet(self, wallet_id: int, merchant_id: int, customer_id: int, *, verified: bool = True,
               currency: str = "INR", status: str = "active", balance: int = 0) -> None:
        if verified:
            self.apply("paystream.kyc.verified.v1",
                       {"customer_id": str(customer_id), "verified_at": OPENED})
        self.apply("paystream.wallet.opened.v1", {
            "wallet_id": str(wallet_id), "customer_id": str(customer_id), "merchant_id": str(merchant_id),
            "currency": currency, "status": status, "opened_at": OPENED})
        if balance:
            self._entry += 1
            amount = {"amount": f"{balance // 100}.{balance % 100:02d}", "currency": currency}
            self.apply("paystream.wallet.credited.v1", {
                "wallet_id": str(wallet_id), "entry_id": str(wallet_id * 1000 + self._entry),
                "kind": "credit", "amount": amount, "balance_after": amount, "reference": None,
                "description": None, "counterparty_wallet_id": None,
                "posted_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")})

    def one(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row


_ids = itertools.count(random.randrange(10**9, 2 * 10**9, 10**6))


class World:
    """A merchant with a key and wallets, in the ledger only (ids far from any other test's)."""

    def __init__(self, ledger_service: tuple[str, str]) -> None:
        url, self.service = ledger_service
        self.state = LedgerState(url)
        self.merchant = next(_ids)
        self.key = f"ps_test_{uuid.uuid4().hex}"
        self.state.api_key(next(_ids), self.merchant, self.key)

    def wallet(self, balance: int) -> int:
        wallet_id = next(_ids)
        self.state.wallet(wallet_id, self.merchant, next(_ids), balance=balance)
        return wallet_id

    def post(self, path: str, body: str, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Api-Key {self.key}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return httpx.post(self.service + path, content=body, headers=headers, timeout=60)

    def balance(self, wallet_id: int) -> Decimal:
        balance = self.state.one("SELECT balance FROM ledger_wallet WHERE wallet_id = %s", wallet_id)
        return Decimal(str(balance))

    def entries(self, wallet_id: int) -> Decimal:
        return Decimal(str(self.state.one(
            "SELECT coalesce(sum(amount), 0) FROM ledger_entry WHERE account = %s", f"wallet:{wallet_id}")))
