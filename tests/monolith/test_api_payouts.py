"""Bank accounts and payouts through the API; settlement by the service the task runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monolith.payouts.bank import FakeBank
from monolith.payouts.models import PAYOUT_FAILED, PAYOUT_PAID, BankAccount, Payout
from monolith.payouts.services import settle_payout
from monolith.wallets.models import TXN_PAYOUT_REVERSAL, Transaction, Wallet

from .conftest import Api, error_code

pytestmark = pytest.mark.django_db


def test_bank_account_is_created_masked_and_listed(api: Api) -> None:
    response = api.post("/api/v1/bank-accounts/", {"account_number": "123456787890",
                                                   "ifsc": "hdfc0001234", "holder_name": "A B"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id", "user_id", "account_number_masked", "ifsc", "holder_name",
                          "created_at"]
    assert (body["account_number_masked"], body["ifsc"], body["user_id"]) == (
        "XXXXXX7890", "HDFC0001234", None)
    assert "123456787890" not in response.content.decode()
    assert api.get("/api/v1/bank-accounts/").json()["results"] == [body]


@pytest.mark.parametrize(("body", "field"), [
    ({"account_number": "12345678", "ifsc": "HDFC0001234", "holder_name": "A"}, "account_number"),
    ({"account_number": 123456789, "ifsc": "HDFC0001234", "holder_name": "A"}, "account_number"),
    ({"account_number": "123456789", "ifsc": "HDFC1001234", "holder_name": "A"}, "ifsc"),
    ({"account_number": "123456789", "ifsc": "HDFC0001234"}, "holder_name"),
])
def test_invalid_bank_accounts_are_validation_errors(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/bank-accounts/", body)
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert field in response.json()["errors"]
    assert not BankAccount.objects.exists()


def test_bank_account_for_foreign_user_is_404(api: Api, make_api: Callable[[str], Api],
                                              make_user: Callable[..., Any]) -> None:
    theirs = make_user(make_api("Other").merchant)
    response = api.post("/api/v1/bank-accounts/", {"account_number": "123456789",
                                                   "ifsc": "HDFC0001234", "holder_name": "A",
                                                   "user_id": theirs.pk})
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")


def test_payout_requires_an_idempotency_key(api: Api, make_wallet: Callable[..., Wallet],
                                            make_bank_account: Callable[..., BankAccount]) -> None:
    wallet, account = make_wallet(api.merchant, balance=100_00), make_bank_account(api.merchant)
    response = api.post("/api/v1/payouts/", {"wallet_id": wallet.pk,
                                             "bank_account_id": account.pk, "amount": "1"})
    assert (response.status_code, error_code(response)) == (400, "IDEMPOTENCY_KEY_REQUIRED")
    assert not Payout.objects.exists()


def test_payout_debits_the_wallet_and_is_processing(
    api: Api, make_wallet: Callable[..., Wallet], make_bank_account: Callable[..., BankAccount],
    django_capture_on_commit_callbacks: Any,
) -> None:
    wallet, account = make_wallet(api.merchant, balance=100_00), make_bank_account(api.merchant)
    body = {"wallet_id": wallet.pk, "bank_account_id": account.pk, "amount": "40.00"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post("/api/v1/payouts/", body, {"Idempotency-Key": "p-1"})
    assert response.status_code == 201
    payout = response.json()
    assert list(payout) == ["id", "wallet_id", "bank_account_id", "amount", "status",
                            "status_display", "provider_ref", "failure_reason", "created_at",
                            "updated_at"]
    assert (payout["status_display"], payout["amount"]) == ("PROCESSING", "40.00")
    # webhook, email and the settlement enqueue all wait for the commit
    assert len(callbacks) == 3
    wallet.refresh_from_db()
    assert wallet.balance == 60_00
    row = Payout.objects.get()
    assert row.debit_transaction is not None and row.debit_transaction.amount == 40_00
    replay = api.post("/api/v1/payouts/", body, {"Idempotency-Key": "p-1"})
    assert (replay.status_code, replay.content) == (201, response.content)
    assert Payout.objects.count() == 1
    assert api.get(f"/api/v1/payouts/{payout['id']}/").json()["id"] == payout["id"]
    assert [p["id"] for p in api.get("/api/v1/payouts/").json()["results"]] == [payout["id"]]


def test_payout_refusals_write_nothing(
    api: Api, make_api: Callable[[str], Api], make_wallet: Callable[..., Wallet],
    make_bank_account: Callable[..., BankAccount],
) -> None:
    rich, poor = make_wallet(api.merchant, balance=100_00), make_wallet(api.merchant, balance=1)
    locked = make_wallet(api.merchant, verified=False, balance=100_00)
    account = make_bank_account(api.merchant)
    foreign_account = make_bank_account(make_api("Other").merchant)
    cases = [
        ({"wallet_id": poor.pk, "bank_account_id": account.pk, "amount": "1"}, 409,
         "INSUFFICIENT_FUNDS"),
        ({"wallet_id": locked.pk, "bank_account_id": account.pk, "amount": "1"}, 409,
         "WALLET_LOCKED"),
        ({"wallet_id": rich.pk, "bank_account_id": foreign_account.pk, "amount": "1"}, 404,
         "NOT_FOUND"),
        ({"wallet_id": rich.pk, "bank_account_id": account.pk, "amount": "0"}, 400,
         "VALIDATION_ERROR"),
    ]
    for n, (body, status, code) in enumerate(cases):
        response = api.post("/api/v1/payouts/", body, {"Idempotency-Key": f"bad-{n}"})
        assert (response.status_code, error_code(response)) == (status, code), body
    assert not Payout.objects.exists() and not Transaction.objects.exists()


def test_foreign_payout_is_404(api: Api, make_api: Callable[[str], Api]) -> None:
    response = api.get("/api/v1/payouts/12345/")
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")


def _payout(api: Api, wallet: Wallet, account: BankAccount, key: str) -> int:
    response = api.post("/api/v1/payouts/", {"wallet_id": wallet.pk,
                                             "bank_account_id": account.pk, "amount": "25.00"},
                        {"Idempotency-Key": key})
    return int(response.json()["id"])


def test_settlement_pays_once_and_a_redelivery_does_nothing(
    api: Api, make_wallet: Callable[..., Wallet], make_bank_account: Callable[..., BankAccount]
) -> None:
    wallet = make_wallet(api.merchant, balance=100_00)
    payout_id = _payout(api, wallet, make_bank_account(api.merchant, "123456781234"), "s-1")
    assert settle_payout(payout_id) == "payout.paid"
    assert settle_payout(payout_id) == "already-settled"
    payout = Payout.objects.get()
    assert payout.status == PAYOUT_PAID and payout.provider_ref.startswith("FB")
    wallet.refresh_from_db()
    assert wallet.balance == 75_00


def test_failed_settlement_reverses_the_debit(
    api: Api, make_wallet: Callable[..., Wallet], make_bank_account: Callable[..., BankAccount]
) -> None:
    wallet = make_wallet(api.merchant, balance=100_00)
    payout_id = _payout(api, wallet, make_bank_account(api.merchant, "123456780000"), "s-2")
    assert settle_payout(payout_id) == "payout.failed"
    assert settle_payout(payout_id) == "already-settled"
    payout = Payout.objects.get()
    assert payout.status == PAYOUT_FAILED and "0000" in payout.failure_reason
    wallet.refresh_from_db()
    assert wallet.balance == 100_00
    assert Transaction.objects.filter(txn_type=TXN_PAYOUT_REVERSAL).count() == 1
    shown = api.get(f"/api/v1/payouts/{payout_id}/").json()
    assert shown["status_display"] == "FAILED"


def test_settling_an_unknown_payout_is_a_no_op(db: None) -> None:
    assert settle_payout(424242) == "missing"


def test_fake_bank_decides_by_account_suffix() -> None:
    bank = FakeBank("0000")
    assert not bank.settle(1, "12340000", 100).paid
    paid = bank.settle(1, "12341111", 100)
    assert paid.paid and paid == bank.settle(1, "12341111", 100)
