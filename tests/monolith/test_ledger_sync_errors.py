"""ledger_sync: one posting it cannot mirror is left for the next round; the others are mirrored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from monolith.wallets import ledger_sync
from monolith.wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


def event(transaction_id: int, wallet_id: int, amount: str, balance_after: str) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "data": {
        "entry_id": str(transaction_id), "wallet_id": str(wallet_id), "kind": "credit",
        "amount": {"amount": amount, "currency": "INR"},
        "balance_after": {"amount": balance_after, "currency": "INR"},
        "reference": "", "description": "", "counterparty_wallet_id": None,
        "posted_at": "2026-11-28T10:00:00Z", "wallet_updated_at": "2026-11-28T10:00:00Z"}}


def test_a_posting_for_an_unknown_wallet_is_not_acknowledged_and_does_not_stop_the_rest(
        make_wallet: Callable[..., Wallet]) -> None:
    from monolith.accounts.models import Merchant

    wallet = make_wallet(Merchant.objects.create(name="M", email="m@example.com"), balance=100_00)
    events = [event(10**15 + 1, 987654321, "1.00", "1.00"), event(10**15 + 2, wallet.pk, "5.00", "105.00")]
    acked: list[list[int]] = []

    def ledger(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"events": events})
        acked.append(json.loads(request.content)["ack"])
        return httpx.Response(200, json={})

    assert ledger_sync.sync_once("http://ledger", "token", transport=httpx.MockTransport(ledger)) == 1
    assert acked == [[10**15 + 2]]  # the unknown wallet's posting stays offered
    assert Transaction.objects.filter(pk=10**15 + 2, wallet=wallet).exists()
    assert Wallet.objects.get(pk=wallet.pk).balance == 105_00
