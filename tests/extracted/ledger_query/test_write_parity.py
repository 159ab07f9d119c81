"""Contract parity of the ledger's write endpoints with the monolith's, request by request.

The same merchant, key and wallets exist on both sides: in the monolith's test database
(its own ORM) and in a real ledger database (put there as their domain events). Every
request below goes to the monolith (in process, its whole middleware stack) and to the
ledger service (a real gunicorn process), in the same order, so successful writes move
both sides alike. Status, the contract's headers and the body bytes must be equal; in a
successful body only the posting's ``id`` and ``created_at`` may differ (each side
allocates its own), and the ledger's ids must come from its own range.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.test import Client

from extracted.ledger_query.write_store import WRITE_ID_BASE
from monolith.accounts.models import KYC_VERIFIED, ApiKey, Merchant, User
from monolith.accounts.services import create_merchant_with_key
from monolith.wallets.models import WALLET_FROZEN, Wallet
from tests.extracted.ledger_query.ledger_service import LedgerState

pytestmark = pytest.mark.django_db
JSON = "application/json"
HEADERS = ("content-type", "allow", "www-authenticate", "vary", "x-content-type-options",
           "referrer-policy", "cross-origin-opener-policy")
_ID = re.compile(rb'"id":([0-9]+)')
_CREATED = re.compile(rb'"created_at":"([0-9T:.+-]+)"')
_WALLET = re.compile(r"@([A-Z])")
_LEGACY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30$")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str | None]
    body: bytes

    def masked(self) -> Answer:
        body = _CREATED.sub(b'"created_at":"T"', _ID.sub(b'"id":0', self.body))
        return Answer(self.status, self.headers, body)


class Sides:
    """One merchant's world on both sides, and a way to send one request to each."""

    def __init__(self, ledger_url: str, service: str) -> None:
        self.state = LedgerState(ledger_url)
        self.service = service
        self.merchant, self.key = create_merchant_with_key(f"M{uuid.uuid4().hex[:6]}", "m@example.com")
        other, _ = create_merchant_with_key(f"O{uuid.uuid4().hex[:6]}", "o@example.com")
        key = ApiKey.objects.get(merchant=self.merchant)
        self.state.api_key(key.pk, self.merchant.pk, self.key)
        self.wallets = {
            "A": self._wallet(self.merchant, balance=500_00),
            "B": self._wallet(self.merchant),
            "L": self._wallet(self.merchant, verified=False),
            "F": self._wallet(self.merchant, balance=100_00, frozen=True),
            "U": self._wallet(self.merchant, balance=50_00, currency="USD"),
            "X": self._wallet(other, balance=100_00),
        }
        self.client = Client()

    def _wallet(self, merchant: Merchant, *, balance: int = 0, verified: bool = True, frozen: bool = False,
                currency: str = "INR") -> int:
        user = User.objects.create(merchant=merchant, external_ref=uuid.uuid4().hex, full_name="U",
                                   email="u@example.com", kyc_status=KYC_VERIFIED if verified else 0)
        wallet = Wallet.objects.create(merchant=merchant, user=user, currency=currency, balance=balance,
                                       limits_locked=not verified, status=WALLET_FROZEN if frozen else 1)
        self.state.wallet(wallet.pk, merchant.pk, user.pk, verified=verified, currency=currency,
                          status="frozen" if frozen else "active", balance=balance)
        return int(wallet.pk)

    def path(self, template: str) -> str:
        """``@A`` -> wallet A's id."""
        return _WALLET.sub(lambda m: str(self.wallets[m.group(1)]), template)

    def body(self, raw: str | bytes) -> bytes:
        return raw if isinstance(raw, bytes) else self.path(raw).encode()

    def monolith(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        content_type = headers.pop("Content-Type", JSON)
        response = self.client.generic(method, path, data=raw, content_type=content_type, headers=headers)
        return Answer(response.status_code, {h: response.headers.get(h) for h in HEADERS}, response.content)

    def ledger(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        headers = {"Content-Type": JSON, **headers}
        response = httpx.request(method, self.service + path, content=raw, headers=headers, timeout=30)
        return Answer(response.status_code, {h: response.headers.get(h) for h in HEADERS}, response.content)

    def both(self, method: str, template: str, raw: str | bytes = "",
             headers: dict[str, str] | None = None, *, auth: bool = True) -> tuple[Answer, Answer]:
        sent = {**({"Authorization": f"Api-Key {self.key}"} if auth else {}), **(headers or {})}
        path, body = self.path(template), self.body(raw)
        return self.monolith(method, path, body, dict(sent)), self.ledger(method, path, body, dict(sent))


@pytest.fixture
def sides(ledger_service: tuple[str, str]) -> Sides:
    return Sides(*ledger_service)


def assert_same(sides: Sides, method: str, template: str, raw: str | bytes = "",
                headers: dict[str, str] | None = None, *, auth: bool = True) -> tuple[Answer, Answer]:
    monolith, ledger = sides.both(method, template, raw, headers, auth=auth)
    assert ledger.masked() == monolith.masked(), f"{method} {template} {raw!r}"
    if ledger.status == 201:
        for found in _ID.findall(ledger.body):
            if int(found) not in sides.wallets.values():
                assert int(found) >= WRITE_ID_BASE  # a posting id from the ledger's own range
        for at in _CREATED.findall(ledger.body):
            assert _LEGACY_TIME.match(at.decode())
    return monolith, ledger


CREDIT = "/api/v1/wallets/@A/credit/"
DEBIT = "/api/v1/wallets/@A/debit/"
TRANSFER = "/api/v1/transfers/"

CREDIT_CASES: list[tuple[str, str, str | bytes, dict[str, str]]] = [
    ("ok, string amount", CREDIT, '{"amount": "100.50", "reference": "r-1", "description": "top-up"}', {}),
    ("ok, JSON number amount", CREDIT, '{"amount": 12.5}', {}),
    ("integer, unicode", CREDIT, '{"amount": 3, "description": "caf\\u00e9 \u2603"}', {}),
    ("zero", CREDIT, '{"amount": "0"}', {}),
    ("negative", CREDIT, '{"amount": "-5.00"}', {}),
    ("huge", CREDIT, '{"amount": "10000000.01"}', {}),
    ("very huge number", CREDIT, '{"amount": 1e400}', {}),
    ("three decimals", CREDIT, '{"amount": "1.001"}', {}),
    ("exponent text", CREDIT, '{"amount": "1e3"}', {}),
    ("boolean", CREDIT, '{"amount": true}', {}),
    ("null", CREDIT, '{"amount": null}', {}),
    ("missing amount", CREDIT, '{"reference": "x"}', {}),
    ("reference too long", CREDIT, '{"amount": "1.00", "reference": "' + "r" * 65 + '"}', {}),
    ("reference not a string", CREDIT, '{"amount": "1.00", "reference": 12}', {}),
    ("malformed JSON", CREDIT, '{"amount": ', {}),
    ("NaN", CREDIT, '{"amount": NaN}', {}),
    ("not UTF-8", CREDIT, b'{"amount": "\xff"}', {}),
    ("a list", CREDIT, "[1, 2]", {}),
    ("empty body", CREDIT, "", {}),
    ("not JSON content type", CREDIT, '{"amount": "1.00"}', {"Content-Type": "text/plain"}),
    ("unknown wallet", "/api/v1/wallets/999999999999/credit/", '{"amount": "1.00"}', {}),
    ("unknown wallet before a bad body", "/api/v1/wallets/999999999999/credit/", '{"amount": "x"}', {}),
    ("another merchant's wallet", "/api/v1/wallets/@X/credit/", '{"amount": "1.00"}', {}),
    ("over the KYC limit", "/api/v1/wallets/@L/credit/", '{"amount": "10000.01"}', {}),
    ("up to the KYC limit", "/api/v1/wallets/@L/credit/", '{"amount": "10000.00"}', {}),
    ("frozen", "/api/v1/wallets/@F/credit/", '{"amount": "1.00"}', {}),
    ("oversized Idempotency-Key", CREDIT, '{"amount": "1.00"}', {"Idempotency-Key": "k" * 256}),
    ("empty Idempotency-Key is none", CREDIT, '{"amount": "1.00"}', {"Idempotency-Key": ""}),
]

DEBIT_CASES: list[tuple[str, str, str | bytes, dict[str, str]]] = [
    ("ok", DEBIT, '{"amount": "100.00", "reference": "d-1"}', {}),
    ("insufficient funds", DEBIT, '{"amount": "400.01"}', {}),
    ("exactly the balance", DEBIT, '{"amount": "400.00"}', {}),
    ("now empty", DEBIT, '{"amount": "0.01"}', {}),
    ("locked for debits", "/api/v1/wallets/@L/debit/", '{"amount": "1.00"}', {}),
    ("frozen", "/api/v1/wallets/@F/debit/", '{"amount": "1.00"}', {}),
    ("unknown wallet", "/api/v1/wallets/999999999999/debit/", '{"amount": "1.00"}', {}),
    ("another merchant's wallet", "/api/v1/wallets/@X/debit/", '{"amount": "1.00"}', {}),
    ("description too long", DEBIT, '{"amount": "1.00", "description": "' + "d" * 256 + '"}', {}),
]

TRANSFER_CASES: list[tuple[str, str, str | bytes, dict[str, str]]] = [
    ("ok", TRANSFER, '{"from_wallet_id": @A, "to_wallet_id": @B, "amount": "150.25", "reference": "t"}', {}),
    ("back the other way", TRANSFER, '{"from_wallet_id": @B, "to_wallet_id": @A, "amount": "0.25"}', {}),
    ("same wallet", TRANSFER, '{"from_wallet_id": @A, "to_wallet_id": @A, "amount": "1.00"}', {}),
    ("insufficient funds", TRANSFER, '{"from_wallet_id": @B, "to_wallet_id": @A, "amount": "999.00"}', {}),
    ("into a locked wallet over its limit", TRANSFER,
     '{"from_wallet_id": @A, "to_wallet_id": @L, "amount": "200.00"}', {}),
    ("from a frozen wallet", TRANSFER, '{"from_wallet_id": @F, "to_wallet_id": @A, "amount": "1.00"}', {}),
    ("currency mismatch", TRANSFER, '{"from_wallet_id": @A, "to_wallet_id": @U, "amount": "1.00"}', {}),
    ("unknown target", TRANSFER, '{"from_wallet_id": @A, "to_wallet_id": 999999999999, "amount": "1"}', {}),
    ("another merchant's source", TRANSFER,
     '{"from_wallet_id": @X, "to_wallet_id": @A, "amount": "1.00"}', {}),
    ("id as a string", TRANSFER, '{"from_wallet_id": "@A", "to_wallet_id": @B, "amount": "1.00"}', {}),
    ("id zero", TRANSFER, '{"from_wallet_id": 0, "to_wallet_id": @B, "amount": "1.00"}', {}),
    ("missing everything", TRANSFER, "{}", {}),
    ("negative amount", TRANSFER, '{"from_wallet_id": @A, "to_wallet_id": @B, "amount": "-1"}', {}),
]


@pytest.mark.parametrize("cases", [CREDIT_CASES, DEBIT_CASES, TRANSFER_CASES],
                         ids=["credit", "debit", "transfer"])
def test_every_answer_is_the_monolith_s(sides: Sides, cases: list[Any]) -> None:
    """Successes, bad input, unknown and foreign wallets, rule refusals: same status, headers, bytes."""
    for _name, path, raw, headers in cases:
        assert_same(sides, "POST", path, raw, headers)
    # and the balances both sides ended with agree
    for name, wallet_id in sides.wallets.items():
        if name != "X":
            balance = f"/api/v1/wallets/{wallet_id}/balance/"
            monolith = sides.client.get(balance, headers={"Authorization": f"Api-Key {sides.key}"})
            ledger = httpx.get(sides.service + balance, headers={"Authorization": f"Api-Key {sides.key}"})
            assert ledger.json()["balance"] == monolith.json()["balance"], name


def test_authentication_and_method_errors_are_the_monolith_s(sides: Sides) -> None:
    assert_same(sides, "POST", CREDIT, '{"amount": "1.00"}', auth=False)
    assert_same(sides, "POST", CREDIT, '{"amount": "1.00"}', {"Authorization": "Api-Key nope"})
    assert_same(sides, "POST", CREDIT, '{"amount": "1.00"}', {"Authorization": "Api-Key"})  # no key
    assert_same(sides, "POST", TRANSFER, "{}", {"Authorization": "Bearer x"})
    assert_same(sides, "GET", CREDIT)
    assert_same(sides, "PUT", TRANSFER, "{}")
    assert_same(sides, "OPTIONS", CREDIT)
    assert_same(sides, "OPTIONS", TRANSFER)


def test_idempotency_keys_behave_as_the_monolith_s(sides: Sides) -> None:
    """Same key and body: the stored bytes again; other body or path: 422; a 4xx is never stored."""
    key = {"Idempotency-Key": "order-1"}
    first = assert_same(sides, "POST", CREDIT, '{"amount": "10.00"}', key)
    again = assert_same(sides, "POST", CREDIT, '{"amount": "10.00"}', key)
    assert (again[0].body, again[1].body) == (first[0].body, first[1].body)
    reordered = assert_same(sides, "POST", CREDIT, '{"reference": "", "amount": "10.00"}', key)
    assert reordered[1].status == 422  # a body with one more field is another request
    assert_same(sides, "POST", CREDIT, '{"amount": "10.01"}', key)
    assert_same(sides, "POST", DEBIT, '{"amount": "10.00"}', key)
    refused = assert_same(sides, "POST", DEBIT, '{"amount": "9999.00"}', {"Idempotency-Key": "order-2"})
    assert refused[1].status == 409
    retried = assert_same(sides, "POST", DEBIT, '{"amount": "1.00"}', {"Idempotency-Key": "order-2"})
    assert retried[1].status == 201
    transfer = '{"from_wallet_id": @A, "to_wallet_id": @B, "amount": "5.00"}'
    one = assert_same(sides, "POST", TRANSFER, transfer, {"Idempotency-Key": "t-1"})
    two = assert_same(sides, "POST", TRANSFER, transfer, {"Idempotency-Key": "t-1"})
    assert two[1].body == one[1].body
    posted = sides.state.one("SELECT count(*) FROM ledger_transaction WHERE wallet_id = %s AND id >= %s",
                             sides.wallets["A"], WRITE_ID_BASE)
    assert posted == 3  # the credit, the debit and the transfer's debit: each once


def test_ledger_write_path_uses_the_ledger_database_only(sides: Sides) -> None:
    """A write answered by the ledger moves the ledger's balance and leaves the monolith's alone."""
    ledger = sides.ledger("POST", sides.path(CREDIT), b'{"amount": "1.00"}',
                          {"Authorization": f"Api-Key {sides.key}"})
    assert ledger.status == 201
    assert Wallet.objects.get(pk=sides.wallets["A"]).balance == 500_00
    assert sides.state.one("SELECT balance FROM ledger_wallet WHERE wallet_id = %s",
                           sides.wallets["A"]) == 501
