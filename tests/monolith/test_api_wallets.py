"""Wallets, credits, debits, transfers and Idempotency-Key replay, through the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monolith.accounts.models import User
from monolith.wallets.models import (
    WALLET_CLOSED,
    WALLET_FROZEN,
    IdempotencyRecord,
    Transaction,
    Wallet,
)

from .conftest import Api, error_code

pytestmark = pytest.mark.django_db

MakeWallet = Callable[..., Wallet]


def _balance(wallet: Wallet) -> int:
    wallet.refresh_from_db()
    return wallet.balance


def test_create_wallet_is_locked_until_kyc_verified(
    api: Api, make_user: Callable[..., User]
) -> None:
    unverified, verified = make_user(api.merchant, verified=False), make_user(api.merchant)
    body = api.post("/api/v1/wallets/", {"user_id": unverified.pk}).json()
    assert list(body) == ["id", "user_id", "currency", "balance", "status", "status_display",
                          "limits_locked", "created_at", "updated_at"]
    assert (body["currency"], body["balance"], body["status_display"], body["limits_locked"]) == (
        "INR", "0.00", "ACTIVE", True)
    response = api.post("/api/v1/wallets/", {"user_id": verified.pk, "currency": "USD"})
    assert response.status_code == 201
    assert (response.json()["currency"], response.json()["limits_locked"]) == ("USD", False)


@pytest.mark.parametrize(("body", "field"), [({}, "user_id"), ({"user_id": "1"}, "user_id"),
                                             ({"user_id": True}, "user_id"),
                                             ({"user_id": 1, "currency": "inr"}, "currency")])
def test_invalid_wallet_bodies_are_validation_errors(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/wallets/", body)
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert field in response.json()["errors"]


def test_wallet_for_unknown_or_foreign_user_is_404(
    api: Api, make_api: Callable[[str], Api], make_user: Callable[..., User]
) -> None:
    theirs = make_user(make_api("Other").merchant)
    for user_id in (theirs.pk, 999_999):
        response = api.post("/api/v1/wallets/", {"user_id": user_id})
        assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
    assert not Wallet.objects.filter(merchant=api.merchant).exists()


def test_credit_then_debit_moves_balance_and_records_transactions(
    api: Api, make_wallet: MakeWallet
) -> None:
    wallet = make_wallet(api.merchant)
    credit = api.post(f"/api/v1/wallets/{wallet.pk}/credit/",
                      {"amount": "100.50", "reference": "r1", "description": "top up"})
    assert credit.status_code == 201
    txn = credit.json()
    assert list(txn) == ["id", "wallet_id", "txn_type", "txn_type_display", "amount",
                         "balance_after", "status", "status_display", "reference", "description",
                         "related_wallet_id", "created_at"]
    assert (txn["txn_type_display"], txn["amount"], txn["balance_after"], txn["status_display"]
            ) == ("CREDIT", "100.50", "100.50", "POSTED")
    debit = api.post(f"/api/v1/wallets/{wallet.pk}/debit/", {"amount": 0.5})
    assert debit.status_code == 201
    assert (debit.json()["txn_type_display"], debit.json()["balance_after"]) == ("DEBIT", "100.00")
    assert _balance(wallet) == 100_00
    balance = api.get(f"/api/v1/wallets/{wallet.pk}/balance/").json()
    assert list(balance) == ["wallet_id", "currency", "balance", "updated_at"]
    assert (balance["wallet_id"], balance["balance"]) == (wallet.pk, "100.00")
    listed = api.get(f"/api/v1/wallets/{wallet.pk}/transactions/").json()
    assert [t["id"] for t in listed["results"]] == [debit.json()["id"], txn["id"]]
    assert api.get(f"/api/v1/wallets/{wallet.pk}/").json()["balance"] == "100.00"


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc", True, None, "10000000.01",
                                    [1], {"v": 1}, "1e3"])
def test_bad_amounts_are_validation_errors_and_write_nothing(
    api: Api, make_wallet: MakeWallet, amount: Any
) -> None:
    wallet = make_wallet(api.merchant, balance=500_00)
    for op in ("credit", "debit"):
        response = api.post(f"/api/v1/wallets/{wallet.pk}/{op}/", {"amount": amount})
        assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
        assert "amount" in response.json()["errors"]
    assert (_balance(wallet), Transaction.objects.count()) == (500_00, 0)


def test_nan_amount_is_malformed_json(api: Api, make_wallet: MakeWallet) -> None:
    wallet = make_wallet(api.merchant)
    response = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", raw='{"amount": NaN}')
    assert (response.status_code, error_code(response)) == (400, "MALFORMED_JSON")


def test_missing_amount_is_a_validation_error(api: Api, make_wallet: MakeWallet) -> None:
    wallet = make_wallet(api.merchant)
    response = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"reference": "x"})
    assert response.json()["errors"] == {"amount": ["This field is required."]}


def test_overdraft_is_refused(api: Api, make_wallet: MakeWallet) -> None:
    wallet = make_wallet(api.merchant, balance=10_00)
    response = api.post(f"/api/v1/wallets/{wallet.pk}/debit/", {"amount": "10.01"})
    assert (response.status_code, error_code(response)) == (409, "INSUFFICIENT_FUNDS")
    assert (_balance(wallet), Transaction.objects.count()) == (10_00, 0)


def test_locked_wallet_takes_credits_up_to_the_limit_and_refuses_debits(
    api: Api, make_wallet: MakeWallet
) -> None:
    wallet = make_wallet(api.merchant, verified=False)
    assert api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "10000.00"}
                    ).status_code == 201
    over = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "0.01"})
    assert (over.status_code, error_code(over)) == (409, "LIMIT_EXCEEDED")
    debit = api.post(f"/api/v1/wallets/{wallet.pk}/debit/", {"amount": "1"})
    assert (debit.status_code, error_code(debit)) == (409, "WALLET_LOCKED")
    assert _balance(wallet) == 10_000_00


@pytest.mark.parametrize("status", [WALLET_FROZEN, WALLET_CLOSED])
def test_frozen_or_closed_wallet_refuses_everything(
    api: Api, make_wallet: MakeWallet, status: int
) -> None:
    wallet = make_wallet(api.merchant, balance=100_00, status=status)
    other = make_wallet(api.merchant, balance=100_00)
    for response in (
        api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "1"}),
        api.post(f"/api/v1/wallets/{wallet.pk}/debit/", {"amount": "1"}),
        api.post("/api/v1/transfers/", {"from_wallet_id": wallet.pk, "to_wallet_id": other.pk,
                                        "amount": "1"}),
        api.post("/api/v1/transfers/", {"from_wallet_id": other.pk, "to_wallet_id": wallet.pk,
                                        "amount": "1"}),
    ):
        assert (response.status_code, error_code(response)) == (409, "WALLET_FROZEN")
    assert Transaction.objects.count() == 0


def test_foreign_or_unknown_wallet_is_404_everywhere(
    api: Api, make_api: Callable[[str], Api], make_wallet: MakeWallet
) -> None:
    theirs = make_wallet(make_api("Other").merchant, balance=100_00)
    mine = make_wallet(api.merchant, balance=100_00)
    for wallet_id in (theirs.pk, 987_654):
        for response in (
            api.get(f"/api/v1/wallets/{wallet_id}/"),
            api.get(f"/api/v1/wallets/{wallet_id}/balance/"),
            api.get(f"/api/v1/wallets/{wallet_id}/transactions/"),
            api.post(f"/api/v1/wallets/{wallet_id}/credit/", {"amount": "1"}),
            api.post(f"/api/v1/wallets/{wallet_id}/debit/", {"amount": "1"}),
            api.post("/api/v1/transfers/", {"from_wallet_id": mine.pk,
                                            "to_wallet_id": wallet_id, "amount": "1"}),
            api.post("/api/v1/transfers/", {"from_wallet_id": wallet_id,
                                            "to_wallet_id": mine.pk, "amount": "1"}),
        ):
            assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
    assert Transaction.objects.count() == 0


def test_transfer_moves_money_between_two_wallets(api: Api, make_wallet: MakeWallet) -> None:
    source, target = make_wallet(api.merchant, balance=50_00), make_wallet(api.merchant)
    response = api.post("/api/v1/transfers/", {"from_wallet_id": source.pk,
                                               "to_wallet_id": target.pk, "amount": "20.25",
                                               "reference": "t-1"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["debit", "credit"]
    assert (body["debit"]["txn_type_display"], body["debit"]["balance_after"],
            body["debit"]["related_wallet_id"]) == ("TRANSFER_OUT", "29.75", target.pk)
    assert (body["credit"]["txn_type_display"], body["credit"]["balance_after"]) == (
        "TRANSFER_IN", "20.25")
    assert (_balance(source), _balance(target)) == (29_75, 20_25)


def test_transfer_refusals(api: Api, make_wallet: MakeWallet) -> None:
    source = make_wallet(api.merchant, balance=10_00)
    usd = make_wallet(api.merchant, currency="USD")
    locked_target = make_wallet(api.merchant, verified=False, balance=9_999_00)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"to_wallet_id": source.pk, "amount": "1"}, 400, "SAME_WALLET"),
        ({"to_wallet_id": usd.pk, "amount": "1"}, 409, "CURRENCY_MISMATCH"),
        ({"to_wallet_id": locked_target.pk, "amount": "10.01"}, 409, "INSUFFICIENT_FUNDS"),
        ({"to_wallet_id": locked_target.pk, "amount": "5.00"}, 409, "LIMIT_EXCEEDED"),
        ({"amount": "1"}, 400, "VALIDATION_ERROR"),
    ]
    for extra, status, code in cases:
        response = api.post("/api/v1/transfers/", {"from_wallet_id": source.pk, **extra})
        assert (response.status_code, error_code(response)) == (status, code), extra
    locked_source = make_wallet(api.merchant, verified=False, balance=5_00)
    response = api.post("/api/v1/transfers/", {"from_wallet_id": locked_source.pk,
                                               "to_wallet_id": source.pk, "amount": "1"})
    assert error_code(response) == "WALLET_LOCKED"
    assert Transaction.objects.count() == 0


def test_idempotent_credit_replays_the_same_bytes_and_writes_once(
    api: Api, make_wallet: MakeWallet
) -> None:
    wallet = make_wallet(api.merchant)
    path, headers = f"/api/v1/wallets/{wallet.pk}/credit/", {"Idempotency-Key": "k-1"}
    first = api.post(path, {"amount": "5.00", "reference": "a"}, headers)
    replay = api.post(path, raw='{ "reference": "a",  "amount": "5.00" }', headers=headers)
    assert first.status_code == replay.status_code == 201
    assert first.content == replay.content
    assert (_balance(wallet), Transaction.objects.count()) == (5_00, 1)
    changed = api.post(path, {"amount": "6.00", "reference": "a"}, headers)
    assert (changed.status_code, error_code(changed)) == (422, "IDEMPOTENCY_KEY_REUSED")
    other_path = api.post(f"/api/v1/wallets/{wallet.pk}/debit/",
                          {"amount": "5.00", "reference": "a"}, headers)
    assert error_code(other_path) == "IDEMPOTENCY_KEY_REUSED"
    assert (_balance(wallet), Transaction.objects.count()) == (5_00, 1)


def test_idempotency_keys_are_scoped_per_merchant(
    api: Api, make_api: Callable[[str], Api], make_wallet: MakeWallet
) -> None:
    other = make_api("Other")
    mine, theirs = make_wallet(api.merchant), make_wallet(other.merchant)
    headers = {"Idempotency-Key": "shared"}
    assert api.post(f"/api/v1/wallets/{mine.pk}/credit/", {"amount": "1"}, headers
                    ).status_code == 201
    assert other.post(f"/api/v1/wallets/{theirs.pk}/credit/", {"amount": "1"}, headers
                      ).status_code == 201
    assert (_balance(mine), _balance(theirs)) == (1_00, 1_00)


def test_failed_idempotent_request_is_not_stored_so_a_retry_revalidates(
    api: Api, make_wallet: MakeWallet
) -> None:
    wallet = make_wallet(api.merchant)
    path, headers = f"/api/v1/wallets/{wallet.pk}/debit/", {"Idempotency-Key": "k-2"}
    refused = api.post(path, {"amount": "1.00"}, headers)
    assert error_code(refused) == "INSUFFICIENT_FUNDS"
    assert not IdempotencyRecord.objects.exists()
    Wallet.objects.filter(pk=wallet.pk).update(balance=1_00)
    assert api.post(path, {"amount": "1.00"}, headers).status_code == 201
    assert _balance(wallet) == 0


def test_overlong_idempotency_key_is_a_validation_error(api: Api, make_wallet: MakeWallet) -> None:
    wallet = make_wallet(api.merchant)
    response = api.post(f"/api/v1/wallets/{wallet.pk}/credit/", {"amount": "1"},
                        {"Idempotency-Key": "k" * 256})
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert "Idempotency-Key" in response.json()["errors"]
    assert Transaction.objects.count() == 0
