"""Fixtures for the monolith's tests: merchants with keys, an authenticated JSON client, rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from monolith.accounts.models import KYC_VERIFIED, Merchant, User
from monolith.accounts.services import create_merchant_with_key
from monolith.payouts.models import BankAccount
from monolith.wallets.models import Wallet


@dataclass
class Api:
    """A merchant's API client: JSON in, (status, parsed JSON) out, the raw response kept."""

    client: Client
    merchant: Merchant
    key: str

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}", **(headers or {})}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None,
             raw: str | bytes | None = None, content_type: str = "application/json") -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data=data, content_type=content_type,
                                headers=self._headers(headers))

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self._headers(None))


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"status", "error_code", "message", "errors"}, body
    assert body["status"] == "error"
    return str(body["error_code"])


@pytest.fixture
def make_api() -> Callable[[str], Api]:
    def make(name: str = "Acme") -> Api:
        merchant, raw = create_merchant_with_key(name, f"{name.lower()}@example.com")
        return Api(Client(), merchant, raw)

    return make


@pytest.fixture
def api(db: None, make_api: Callable[[str], Api]) -> Api:
    return make_api("Acme")


@pytest.fixture
def make_user() -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(merchant: Merchant, *, verified: bool = True, email: str = "u@example.com") -> User:
        n = next(counter)
        return User.objects.create(
            merchant=merchant, external_ref=f"ref-{n}", full_name=f"User {n}", email=email,
            kyc_status=KYC_VERIFIED if verified else 0,
        )

    return make


@pytest.fixture
def make_wallet(make_user: Callable[..., User]) -> Callable[..., Wallet]:
    def make(merchant: Merchant, *, balance: int = 0, verified: bool = True,
             currency: str = "INR", **fields: Any) -> Wallet:
        user = make_user(merchant, verified=verified)
        return Wallet.objects.create(
            merchant=merchant, user=user, currency=currency, balance=balance,
            limits_locked=not verified, **fields,
        )

    return make


@pytest.fixture
def make_bank_account() -> Callable[..., BankAccount]:
    def make(merchant: Merchant, number: str = "123456789012") -> BankAccount:
        return BankAccount.objects.create(
            merchant=merchant, account_number=number, ifsc="HDFC0001234", holder_name="A Holder"
        )

    return make
