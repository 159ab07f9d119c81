"""Domain rules and services without HTTP: pure refusal rules, fingerprints, KYC, admin, commands."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User as StaffUser
from django.core.management import CommandError, call_command
from django.test import Client

from monolith.accounts.models import KYC_PENDING, KYC_VERIFIED, ApiKey, KycSubmission, User
from monolith.accounts.services import create_merchant_with_key, submit_kyc
from monolith.common.idempotency import canonical_json, request_fingerprint
from monolith.wallets.models import WALLET_ACTIVE, WALLET_FROZEN, Wallet
from monolith.wallets.services import WalletState, refuse_credit, refuse_debit

LIMIT = 10_000_00


def _state(balance: int = 0, *, locked: bool = False, status: int = WALLET_ACTIVE) -> WalletState:
    return WalletState(wallet_id=1, status=status, limits_locked=locked, balance=balance)


@pytest.mark.parametrize(("state", "amount", "code"), [
    (_state(0), 1, None),
    (_state(0, locked=True), LIMIT, None),
    (_state(1, locked=True), LIMIT, "LIMIT_EXCEEDED"),
    (_state(0, status=WALLET_FROZEN), 1, "WALLET_FROZEN"),
])
def test_credit_rules(state: WalletState, amount: int, code: str | None) -> None:
    refusal = refuse_credit(state, amount, LIMIT)
    assert (refusal.error_code if refusal else None) == code


@pytest.mark.parametrize(("state", "amount", "code"), [
    (_state(100), 100, None),
    (_state(100), 101, "INSUFFICIENT_FUNDS"),
    (_state(100, locked=True), 1, "WALLET_LOCKED"),
    (_state(100, locked=True, status=WALLET_FROZEN), 1, "WALLET_FROZEN"),
])
def test_debit_rules(state: WalletState, amount: int, code: str | None) -> None:
    refusal = refuse_debit(state, amount)
    assert (refusal.error_code if refusal else None) == code


def test_fingerprint_ignores_key_order_but_not_values_paths_or_number_vs_string() -> None:
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    base = request_fingerprint("POST", "/p/", {"amount": Decimal("1.5")})
    assert base == request_fingerprint("post", "/p/", {"amount": Decimal("1.5")})
    assert base != request_fingerprint("POST", "/q/", {"amount": Decimal("1.5")})
    assert base != request_fingerprint("POST", "/p/", {"amount": "1.5"})
    assert base != request_fingerprint("POST", "/p/", {"amount": Decimal("1.50")})


@pytest.mark.django_db
def test_create_merchant_with_key_accepts_a_chosen_key() -> None:
    merchant, raw = create_merchant_with_key("Seed", "s@example.com", raw_key="ps_test_fixed")
    assert raw == "ps_test_fixed"
    assert ApiKey.objects.get(merchant=merchant).prefix == "ps_test_fixe"
    _, generated = create_merchant_with_key("Seed2", "s2@example.com")
    assert generated.startswith("ps_live_") and len(generated) > 30


@pytest.mark.django_db
def test_create_staff_command_is_idempotent_and_allows_admin_login() -> None:
    out = StringIO()
    call_command("create_staff", "alice", "long-password", stdout=out)
    call_command("create_staff", "alice", "other-password", stdout=out)
    assert "Created" in out.getvalue() and "Updated" in out.getvalue()
    user = StaffUser.objects.get(username="alice")
    assert user.is_staff and user.check_password("other-password")
    assert user.has_perm("accounts.change_kycsubmission")
    with pytest.raises(CommandError, match="at least 8"):
        call_command("create_staff", "bob", "short")


@pytest.mark.django_db
def test_admin_action_verifies_pending_kyc_and_unlocks_wallets(
    make_user: Callable[..., User],
) -> None:
    merchant, _ = create_merchant_with_key("Adm", "a@example.com")
    user = make_user(merchant, verified=False)
    wallet = Wallet.objects.create(merchant=merchant, user=user, limits_locked=True)
    submission = submit_kyc(merchant, user.pk, document_type=1, document_number="ABCDE1234F")
    user.refresh_from_db()
    assert user.kyc_status == KYC_PENDING
    call_command("create_staff", "reviewer", "long-password", stdout=StringIO())
    client = Client()
    assert client.login(username="reviewer", password="long-password")
    response = client.post("/admin/accounts/kycsubmission/", {
        "action": "verify_selected", "_selected_action": [submission.pk]})
    assert response.status_code == 302
    submission.refresh_from_db()
    wallet.refresh_from_db()
    user.refresh_from_db()
    assert (submission.status, user.kyc_status, wallet.limits_locked) == (
        KYC_VERIFIED, KYC_VERIFIED, False)
    assert submission.reviewed_by is not None
    assert KycSubmission.objects.count() == 1


@pytest.mark.django_db
def test_admin_pages_render_for_every_model(make_wallet: Callable[..., Wallet]) -> None:
    StaffUser.objects.create_superuser("root", password="pw-123456")
    client = Client()
    client.login(username="root", password="pw-123456")
    for model in ("accounts/merchant", "accounts/apikey", "accounts/user",
                  "accounts/kycsubmission", "wallets/wallet", "wallets/transaction",
                  "wallets/idempotencyrecord", "payouts/bankaccount", "payouts/payout",
                  "hooks/webhookendpoint", "hooks/webhookdelivery", "hooks/notification"):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    assert client.get("/admin/does-not-exist/").status_code == 404
