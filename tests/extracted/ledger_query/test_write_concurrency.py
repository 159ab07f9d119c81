"""The write path under real concurrency: threads against a gunicorn service on a real PostgreSQL.

Requests really overlap (two workers of eight threads each). What must hold: no overdraft,
no lost update (every success saw the balance its predecessor left), no deadlock between
opposite transfers, and one posting for many simultaneous retries of one Idempotency-Key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

from tests.extracted.ledger_query.ledger_service import World


def _all(n: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def test_concurrent_debits_never_overdraw_and_never_lose_an_update(world: World) -> None:
    wallet = world.wallet(balance=100_00)
    answers = _all(24, lambda _: world.post(f"/api/v1/wallets/{wallet}/debit/", '{"amount": "10.00"}'))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 10, 409: 14}, [a.text for a in answers if a.status_code not in (201, 409)]
    assert {a.json()["error_code"] for a in answers if a.status_code == 409} == {"INSUFFICIENT_FUNDS"}
    # each success saw the balance the previous one left: ten distinct balances, 90.00 down to 0.00
    after = sorted(Decimal(a.json()["balance_after"]) for a in answers if a.status_code == 201)
    assert after == [Decimal(n) for n in range(0, 100, 10)]
    assert world.balance(wallet) == 0 == world.entries(wallet)


def test_concurrent_credits_and_debits_add_up(world: World) -> None:
    wallet = world.wallet(balance=50_00)

    def call(n: int) -> httpx.Response:
        kind = "credit" if n % 2 else "debit"
        return world.post(f"/api/v1/wallets/{wallet}/{kind}/", '{"amount": "1.00"}')

    answers = _all(40, call)
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert world.balance(wallet) == Decimal("50.00") == world.entries(wallet)


def test_opposite_transfers_neither_deadlock_nor_create_money(world: World) -> None:
    one, two = world.wallet(balance=1000_00), world.wallet(balance=1000_00)

    def call(n: int) -> httpx.Response:
        source, target, amount = (one, two, "1.00") if n % 2 else (two, one, "2.00")
        return world.post("/api/v1/transfers/",
                          f'{{"from_wallet_id": {source}, "to_wallet_id": {target}, "amount": "{amount}"}}')

    answers = _all(30, call)
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    assert world.balance(one) == Decimal("1015.00") == world.entries(one)
    assert world.balance(two) == Decimal("985.00") == world.entries(two)


def test_simultaneous_retries_of_one_key_post_once_and_answer_alike(world: World) -> None:
    wallet = world.wallet(balance=0)
    answers = _all(12, lambda _: world.post(f"/api/v1/wallets/{wallet}/credit/", '{"amount": "7.00"}',
                                            key="same-key"))
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert world.balance(wallet) == Decimal("7.00")
    posted: Any = world.state.one("SELECT count(*) FROM ledger_write_event WHERE wallet_id = %s", wallet)
    assert posted == 1
