"""Real parallel HTTP requests against a threaded live server on PostgreSQL.

Checks the money invariants under concurrency: no overdraft, no lost update (the
balance equals the sum of posted transactions and every ``balance_after`` chains),
opposite transfers do not deadlock, and one Idempotency-Key applies a payout once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from monolith.accounts.services import create_merchant_with_key
from monolith.payouts.models import BankAccount, Payout
from monolith.wallets.models import INBOUND_TYPES, Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


def run_parallel(calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    """Run every call in its own thread, all released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=30)
            try:
                results[index] = call(client)
            except Exception as exc:  # surfaced by the assertion below
                results[index] = exc

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, httpx.Response) for r in results), results
    return results


def assert_ledger_consistent(wallet: Wallet) -> None:
    """The denormalised balance equals the ledger and each row's balance_after chains."""
    wallet.refresh_from_db()
    running = 0
    for txn in Transaction.objects.filter(wallet=wallet).order_by("id"):
        running += txn.amount if txn.txn_type in INBOUND_TYPES else -txn.amount
        assert txn.balance_after == running, f"lost update at transaction {txn.pk}"
        assert running >= 0, "overdraft"
    assert wallet.balance == running


class _DeepBacklogServer(ThreadedWSGIServer):
    # Django's live server listens with a backlog of 10; a burst of 30 parallel
    # connects then gets resets instead of queueing.
    request_queue_size = 128


class _LiveServer(LiveServerThread):
    server_class = _DeepBacklogServer


@pytest.fixture
def live_url(transactional_db: None) -> Iterator[str]:
    """Django's threaded live server (one thread per request), with a deep accept backlog."""
    thread = _LiveServer("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait(timeout=30)
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    connections.close_all()


@pytest.fixture
def setup(live_url: str) -> tuple[str, dict[str, str], Any]:
    merchant, key = create_merchant_with_key("Conc", "c@example.com")
    return live_url, {"Authorization": f"Api-Key {key}"}, merchant


def test_parallel_debits_never_overdraw_and_lose_no_update(
    setup: tuple[str, dict[str, str], Any], make_wallet: Callable[..., Wallet]
) -> None:
    base, headers, merchant = setup
    wallet = make_wallet(merchant)
    assert httpx.post(f"{base}/api/v1/wallets/{wallet.pk}/credit/", json={"amount": "10.00"},
                      headers=headers).status_code == 201
    debit = f"{base}/api/v1/wallets/{wallet.pk}/debit/"
    credit = f"{base}/api/v1/wallets/{wallet.pk}/credit/"
    calls: list[Callable[[httpx.Client], httpx.Response]] = [
        lambda c: c.post(debit, json={"amount": "0.50"}, headers=headers) for _ in range(24)
    ] + [lambda c: c.post(credit, json={"amount": "0.25"}, headers=headers) for _ in range(8)]
    responses = run_parallel(calls)
    outcomes = Counter(
        (r.status_code, r.json().get("error_code") if r.status_code != 201 else None)
        for r in responses
    )
    assert set(outcomes) <= {(201, None), (409, "INSUFFICIENT_FUNDS")}
    debits_ok = sum(1 for r in responses[:24] if r.status_code == 201)
    assert all(r.status_code == 201 for r in responses[24:])  # credits always apply
    assert_ledger_consistent(wallet)
    assert wallet.balance == 10_00 + 8 * 25 - debits_ok * 50
    assert debits_ok >= 20  # at least the initial 10.00 was spendable


def test_opposite_transfers_in_parallel_do_not_deadlock(
    setup: tuple[str, dict[str, str], Any], make_wallet: Callable[..., Wallet]
) -> None:
    base, headers, merchant = setup
    a, b = make_wallet(merchant), make_wallet(merchant)
    for wallet in (a, b):
        httpx.post(f"{base}/api/v1/wallets/{wallet.pk}/credit/", json={"amount": "5.00"},
                   headers=headers)
    url = f"{base}/api/v1/transfers/"

    def transfer(source: Wallet, target: Wallet) -> Callable[[httpx.Client], httpx.Response]:
        body = {"from_wallet_id": source.pk, "to_wallet_id": target.pk, "amount": "1.00"}
        return lambda c: c.post(url, json=body, headers=headers)

    responses = run_parallel([transfer(a, b), transfer(b, a)] * 8)
    assert {r.status_code for r in responses} <= {201, 409}
    assert all(r.json().get("error_code") in (None, "INSUFFICIENT_FUNDS") for r in responses)
    for wallet in (a, b):
        assert_ledger_consistent(wallet)
    assert a.balance + b.balance == 10_00


def test_concurrent_payouts_with_one_idempotency_key_apply_once(
    setup: tuple[str, dict[str, str], Any], make_wallet: Callable[..., Wallet]
) -> None:
    base, headers, merchant = setup
    wallet = make_wallet(merchant)
    httpx.post(f"{base}/api/v1/wallets/{wallet.pk}/credit/", json={"amount": "100.00"},
               headers=headers)
    account = BankAccount.objects.create(merchant=merchant, account_number="123456789012",
                                         ifsc="HDFC0001234", holder_name="X")
    body = {"wallet_id": wallet.pk, "bank_account_id": account.pk, "amount": "30.00"}
    keyed = {**headers, "Idempotency-Key": "same-key"}
    responses = run_parallel(
        [lambda c: c.post(f"{base}/api/v1/payouts/", json=body, headers=keyed)] * 8
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1, "every caller sees the same response bytes"
    assert Payout.objects.filter(merchant=merchant).count() == 1
    assert_ledger_consistent(wallet)
    assert wallet.balance == 70_00
