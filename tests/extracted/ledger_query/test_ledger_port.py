"""The monolith's ledger port after the write cutover, against the real ledger service.

The ``ledger.write`` capability is ``extracted`` in the (test) control plane; the monolith's
payouts then move money in the ledger service and mirror it into the legacy tables. Each
attempt runs in a process of its own (``payout_attempt``), which the fault-injection tests
SIGKILL between the ledger's answer and the monolith's commit; retrying the same payout
must then move the money exactly once, and the legacy tables must end up showing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from extracted.ledger_query.port_auth import service_token
from monolith.accounts.models import KYC_VERIFIED, User
from monolith.accounts.services import create_merchant_with_key
from monolith.payouts.models import PAYOUT_FAILED, PAYOUT_PROCESSING, BankAccount, Payout
from monolith.wallets import ledger_sync
from monolith.wallets.models import TXN_CREDIT, TXN_PAYOUT, TXN_PAYOUT_REVERSAL, Transaction, Wallet
from strangler.config import get_settings
from strangler.control.routing.models import Capability
from tests.extracted.ledger_query.ledger_service import REPO, LedgerState, django_database_url

pytestmark = pytest.mark.django_db(databases=["default", "control"], transaction=True)


class Rig:
    """A merchant with a wallet on both sides, and attempts run as killable processes."""

    def __init__(self, ledger_service: tuple[str, str], *, account_number: str = "123456789012") -> None:
        ledger_url, self.service = ledger_service
        self.ledger = LedgerState(ledger_url)
        Capability.objects.update_or_create(name="ledger.write",
                                            defaults={"mode": "extracted", "killed": False})
        merchant, self.key = create_merchant_with_key(f"P{uuid.uuid4().hex[:6]}", "p@example.com")
        user = User.objects.create(merchant=merchant, external_ref=uuid.uuid4().hex, full_name="U",
                                   email="u@example.com", kyc_status=KYC_VERIFIED)
        self.wallet = Wallet.objects.create(merchant=merchant, user=user, balance=1000_00,
                                            limits_locked=False)
        self.account = BankAccount.objects.create(merchant=merchant, account_number=account_number,
                                                  ifsc="HDFC0001234", holder_name="A Holder")
        self.ledger.wallet(self.wallet.pk, merchant.pk, user.pk, balance=1000_00)

    def attempt(self, *args: str, kill: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
               "STRANGLER_MONOLITH_DATABASE_URL": django_database_url("default"),
               "STRANGLER_CONTROL_DATABASE_URL": django_database_url("control"),
               "STRANGLER_LEDGER_PORT": str(urlsplit(self.service).port)}
        return subprocess.run(
            [sys.executable, "-m", "tests.extracted.ledger_query.payout_attempt", *args,
             *(["--kill"] if kill else [])],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    def create(self, amount: str, key: str, *, kill: bool = False) -> subprocess.CompletedProcess[str]:
        body = json.dumps({"wallet_id": self.wallet.pk, "bank_account_id": self.account.pk, "amount": amount})
        return self.attempt("create", self.key, key, body, kill=kill)

    def ledger_postings(self, kind: str) -> list[Any]:
        rows = self.ledger.one(
            "SELECT coalesce(json_agg(json_build_array(id, reference, amount) ORDER BY id), '[]')"
            " FROM ledger_transaction WHERE wallet_id = %s AND kind = %s", self.wallet.pk, kind)
        return list(rows)

    def ledger_balance(self) -> Decimal:
        return Decimal(str(self.ledger.one("SELECT balance FROM ledger_wallet WHERE wallet_id = %s",
                                           self.wallet.pk)))

    def legacy(self, txn_type: int) -> list[Transaction]:
        return list(Transaction.objects.filter(wallet_id=self.wallet.pk, txn_type=txn_type).order_by("id"))


@pytest.fixture
def rig(ledger_service: tuple[str, str]) -> Rig:
    return Rig(ledger_service)


def _ok(done: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    assert done.returncode == 0, done.stderr[-3000:]
    status, _, body = done.stdout.strip().rpartition("\n")[2].partition(" ")
    return int(status), json.loads(body)


def test_a_payout_killed_between_the_ledger_and_the_local_commit_debits_once_when_retried(rig: Rig) -> None:
    killed = rig.create("250.00", "po-1", kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # the ledger moved the money; the monolith's transaction died with the process
    assert len(rig.ledger_postings("payout")) == 1 and rig.ledger_balance() == Decimal("750.00")
    assert not Payout.objects.exists() and rig.legacy(TXN_PAYOUT) == []
    assert Wallet.objects.get(pk=rig.wallet.pk).balance == 1000_00

    status, body = _ok(rig.create("250.00", "po-1"))
    assert status == 201 and body["status"] == PAYOUT_PROCESSING
    (posting,) = rig.ledger_postings("payout")  # still one: the retry got the first posting back
    assert rig.ledger_balance() == Decimal("750.00")
    payout = Payout.objects.get()
    assert payout.pk == body["id"] and posting[1] == f"payout:{payout.pk}"  # the first attempt's payout id
    (mirrored,) = rig.legacy(TXN_PAYOUT)
    assert (mirrored.pk, mirrored.reference, mirrored.amount) == (posting[0], f"payout:{payout.pk}", 250_00)
    assert payout.debit_transaction_id == mirrored.pk
    wallet = Wallet.objects.get(pk=rig.wallet.pk)
    assert wallet.balance == 750_00 == mirrored.balance_after

    replayed = _ok(rig.create("250.00", "po-1"))  # the client retries once more: the stored answer
    assert replayed == (status, body)
    assert len(rig.ledger_postings("payout")) == 1 and Payout.objects.count() == 1


def test_a_payout_the_ledger_refuses_changes_nothing_anywhere(rig: Rig) -> None:
    status, body = _ok(rig.create("1000.01", "po-big"))
    assert (status, body["error_code"]) == (409, "INSUFFICIENT_FUNDS")
    assert body["message"] == f"Wallet {rig.wallet.pk} has 1000.00, less than 1000.01."
    assert rig.ledger_postings("payout") == [] and not Payout.objects.exists()


def test_a_reversal_killed_before_the_local_commit_credits_once_when_settlement_is_retried(
        ledger_service: tuple[str, str]) -> None:
    rig = Rig(ledger_service, account_number="111122220000")  # the fake bank refuses *0000
    status, body = _ok(rig.create("100.00", "po-fail"))
    assert status == 201
    killed = rig.attempt("settle", str(body["id"]), kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(rig.ledger_postings("payout_reversal")) == 1 and rig.ledger_balance() == Decimal("1000.00")
    assert Payout.objects.get().status == PAYOUT_PROCESSING and rig.legacy(TXN_PAYOUT_REVERSAL) == []

    settled = rig.attempt("settle", str(body["id"]))  # the task is redelivered (acks_late)
    assert settled.returncode == 0 and settled.stdout.strip() == "payout.failed", settled.stderr[-3000:]
    assert len(rig.ledger_postings("payout_reversal")) == 1 and rig.ledger_balance() == Decimal("1000.00")
    assert Payout.objects.get().status == PAYOUT_FAILED
    (reversal,) = rig.legacy(TXN_PAYOUT_REVERSAL)
    assert reversal.balance_after == 1000_00 == Wallet.objects.get(pk=rig.wallet.pk).balance


def test_the_ledger_s_own_postings_reach_the_legacy_tables_once(rig: Rig) -> None:
    import httpx

    merchant_key = rig.key
    rig.ledger.api_key(10**9 + rig.wallet.pk, rig.wallet.merchant_id, merchant_key)
    credited = httpx.post(f"{rig.service}/api/v1/wallets/{rig.wallet.pk}/credit/", json={"amount": "5.50"},
                          headers={"Authorization": f"Api-Key {merchant_key}"})
    assert credited.status_code == 201
    token = service_token(get_settings().secret_key)
    # earlier tests' postings belong to wallets this test's monolith database no longer has
    rig.ledger.one("WITH a AS (UPDATE ledger_write_event SET synced_at = now() WHERE wallet_id <> %s"
                   " RETURNING 1) SELECT count(*) FROM a", rig.wallet.pk)
    from monolith.hooks.models import Notification

    def emails() -> list[str]:
        mine = Notification.objects.filter(user_id=rig.wallet.user_id)
        return list(mine.values_list("template", flat=True))

    before = emails()
    assert ledger_sync.sync_once(rig.service, token) == 1
    (row,) = rig.legacy(TXN_CREDIT)
    assert (row.pk, row.amount, row.balance_after) == (credited.json()["id"], 5_50, 1005_50)
    assert Wallet.objects.get(pk=rig.wallet.pk).balance == 1005_50
    # the customer hears of a credit the ledger made as of one the monolith made (inline: the
    # notifications.email flag is on the monolith here)
    assert emails() == [*before, "wallet.credited"]
    assert ledger_sync.sync_once(rig.service, token) == 0  # acknowledged: not sent again
    ledger_sync.apply_event(rig.ledger.one(  # a repeated event (crash before the ack) changes nothing
        "SELECT data FROM ledger_write_event WHERE transaction_id = %s", row.pk))
    assert len(rig.legacy(TXN_CREDIT)) == 1 and Wallet.objects.get(pk=rig.wallet.pk).balance == 1005_50
    assert emails() == [*before, "wallet.credited"]  # and is not told twice


def test_the_capability_flag_chooses_the_port_and_an_unreadable_flag_is_not_guessed_after_the_cutover(
        ledger_service: tuple[str, str]) -> None:
    from monolith.common.errors import ApiError
    from monolith.wallets import ledger_port
    from strangler.capability_flags import CapabilityFlags

    flags = CapabilityFlags(django_database_url("control"), ttl=0)
    assert isinstance(ledger_port.port_for(1, flags.mode_of), ledger_port.LegacyLedger)  # unknown: monolith
    Capability.objects.create(name="ledger.write", mode="shadow")
    assert isinstance(ledger_port.port_for(1, flags.mode_of), ledger_port.LegacyLedger)
    Capability.objects.filter(name="ledger.write").update(mode="extracted")
    assert isinstance(ledger_port.port_for(1, flags.mode_of), ledger_port.RemoteLedger)
    Capability.objects.filter(name="ledger.write").update(killed=True)
    assert isinstance(ledger_port.port_for(1, flags.mode_of), ledger_port.LegacyLedger)

    unreachable = CapabilityFlags("postgresql://nobody@127.0.0.1:1/none", ttl=0)
    assert isinstance(ledger_port.port_for(1, unreachable.mode_of), ledger_port.LegacyLedger)
    rig = Rig(ledger_service)  # the ledger writes a payout: it is the writer from now on
    assert _ok(rig.create("1.00", "po-flag"))[0] == 201
    with pytest.raises(ApiError) as refused:
        ledger_port.port_for(rig.wallet.pk, unreachable.mode_of)
    assert (refused.value.error_code, refused.value.status_code) == ("LEDGER_UNAVAILABLE", 503)


def test_the_port_reverses_only_a_payout_debit_it_holds_and_only_once(rig: Rig) -> None:
    """A leaked token or a monolith bug must not mint money through a reversal."""
    import httpx

    url = f"{rig.service}/internal/v1/wallets/{rig.wallet.pk}/postings/"
    token = service_token(get_settings().secret_key)

    def post(kind: str, amount: str, reference: str, key: str,
             auth: bytes = f"Service {token}".encode()) -> httpx.Response:
        return httpx.post(url, json={"kind": kind, "amount": amount, "reference": reference},
                          headers={b"Authorization": auth, b"Idempotency-Key": key.encode()})

    nothing = post("payout_reversal", "10.00", "payout:424242", "rev-none")
    assert nothing.status_code == 422 and "No payout debit" in nothing.json()["message"]
    assert post("payout", "10.00", "payout:424242", "debit-1").status_code == 201
    assert post("payout_reversal", "9.00", "payout:424242", "rev-wrong-amount").status_code == 422
    assert post("payout_reversal", "10.00", "payout:424242", "rev-1").status_code == 201
    assert post("payout_reversal", "10.00", "payout:424242", "rev-1").status_code == 201  # a replay
    twice = post("payout_reversal", "10.00", "payout:424242", "rev-2")
    assert twice.status_code == 409 and "reversed already" in twice.json()["message"]
    assert rig.ledger_balance() == Decimal("1000.00")  # -10 +10, once
    odd = post("payout", "1.00", "payout:1", "k", auth="Service t\u00f6ken".encode("latin-1"))
    assert odd.status_code == 401  # a non-ASCII token is refused, not a crash
