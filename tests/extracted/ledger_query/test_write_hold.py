"""The write cutover's hold, against the running ledger service and its real database.

The hole it closes: a monolith posting committed just before the flip but not yet projected
is lost from the ledger's balance once the write path posts to the same wallet, because the
projector lets only a wallet's highest posting id set the balance and the write path's ids
start at 10^15. The first test shows the hole (no hold: the balance and the entries part);
the second runs the same sequence with the hold and loses nothing. The late event is applied
by the projector exactly as the consumer applies it (``LedgerState.apply``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from extracted.ledger_query.handover import close_writes, gate_state, hold_writes, release_writes
from tests.extracted.ledger_query.ledger_service import World


@pytest.fixture
def gate(ledger_service: tuple[str, str]) -> Iterator[str]:
    url, _ = ledger_service
    yield url
    release_writes(url)  # whatever a test left, the next one starts open


def late_monolith_credit(world: World, wallet_id: int, amount: str, balance_after: str) -> None:
    """A monolith credit (id below 10^15) reaching the projector now, as the consumer would apply it."""
    money = {"amount": amount, "currency": "INR"}
    world.state.apply("paystream.wallet.credited.v1", {
        "wallet_id": str(wallet_id), "entry_id": str(wallet_id * 1000 + 2), "kind": "credit",
        "amount": money, "balance_after": {"amount": balance_after, "currency": "INR"},
        "reference": None, "description": None, "counterparty_wallet_id": None,
        "posted_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")})


def credit(world: World, wallet_id: int, amount: str, request_id: str = "") -> httpx.Response:
    headers = {"Authorization": f"Api-Key {world.key}", "Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return httpx.post(f"{world.service}/api/v1/wallets/{wallet_id}/credit/", headers=headers,
                      content=f'{{"amount": "{amount}"}}', timeout=60)


def written_by_ledger(world: World, wallet_id: int) -> int:
    return int(world.state.one("SELECT count(*) FROM ledger_write_event WHERE wallet_id = %s", wallet_id))


def test_without_the_hold_a_monolith_posting_projected_after_a_ledger_write_is_lost_from_the_balance(
        world: World, gate: str) -> None:
    wallet = world.wallet(balance=10_00)
    assert credit(world, wallet, "1.00").status_code == 201  # the ledger writes first (no hold) ...
    late_monolith_credit(world, wallet, "5.00", "15.00")  # ... then the monolith's earlier credit lands

    assert world.entries(wallet) == Decimal("16.00")  # every posting is there
    assert world.balance(wallet) == Decimal("11.00"), "the hole: the balance never saw the 5.00"


def test_with_the_hold_the_write_waits_for_the_monolith_s_last_posting_and_nothing_is_lost(
        world: World, gate: str) -> None:
    wallet = world.wallet(balance=10_00)
    hold_writes(gate, "test hand-over", wait_ms=60_000)
    answers: list[httpx.Response] = []
    writer = threading.Thread(target=lambda: answers.append(credit(world, wallet, "1.00")))
    writer.start()
    writer.join(0.5)  # give it time to reach the gate; it must still be waiting there
    assert writer.is_alive() and written_by_ledger(world, wallet) == 0

    late_monolith_credit(world, wallet, "5.00", "15.00")  # the drain: the consumer applies the last one
    release_writes(gate)
    writer.join(60)

    (answer,) = answers
    assert answer.status_code == 201 and answer.json()["balance_after"] == "16.00"
    assert world.balance(wallet) == world.entries(wallet) == Decimal("16.00")
    assert written_by_ledger(world, wallet) == 1


def test_a_write_held_past_the_bound_is_a_503_naming_the_request_and_nothing_is_written(
        world: World, gate: str) -> None:
    wallet = world.wallet(balance=10_00)
    hold_writes(gate, "write cutover of ledger.write", wait_ms=100)

    answer = credit(world, wallet, "1.00", request_id="req-held-1")

    assert answer.status_code == 503
    body = answer.json()
    assert body["error_code"] == "LEDGER_WRITES_HELD"
    assert "req-held-1" in body["message"] and "retry it with the same Idempotency-Key" in body["message"]
    assert "write cutover of ledger.write" in body["message"]
    assert written_by_ledger(world, wallet) == 0 and world.balance(wallet) == Decimal("10.00")


def test_after_a_rollback_the_closed_write_path_refuses_at_once_and_opens_again_on_release(
        world: World, gate: str) -> None:
    wallet = world.wallet(balance=10_00)
    close_writes(gate, "rolled back to the monolith")
    assert gate_state(gate) == ("closed", "rolled back to the monolith")

    refused = credit(world, wallet, "1.00", request_id="req-closed-1")
    assert refused.status_code == 503
    assert "the monolith is the ledger's writer again" in refused.json()["message"]
    assert written_by_ledger(world, wallet) == 0

    release_writes(gate)
    assert credit(world, wallet, "1.00").status_code == 201
    assert world.balance(wallet) == world.entries(wallet) == Decimal("11.00")


def test_the_monolith_s_port_is_refused_at_once_while_held_so_it_never_waits_holding_a_wallet_lock(
        world: World, gate: str) -> None:
    """The port's caller holds the wallet's legacy row lock; ledger_sync (drained by the rollback)
    needs it. So the port's postings are not held: 503 at once, nothing written."""
    from extracted.ledger_query.port_api import PORT_NAMESPACE
    from extracted.ledger_query.port_auth import service_token
    from extracted.ledger_query.write_path import PORT_MERCHANT
    from strangler.config import get_settings

    assert PORT_MERCHANT == PORT_NAMESPACE
    wallet = world.wallet(balance=10_00)
    hold_writes(gate, "test hand-over", wait_ms=60_000)  # a client write would wait a minute
    answer = httpx.post(f"{world.service}/internal/v1/wallets/{wallet}/postings/",
                        json={"kind": "payout", "amount": "1.00", "reference": "payout:1",
                              "description": "Payout"},
                        headers={"Authorization": f"Service {service_token(get_settings().secret_key)}",
                                 "Idempotency-Key": "port-held-1"}, timeout=30)
    assert answer.status_code == 503 and answer.json()["error_code"] == "LEDGER_WRITES_HELD"
    assert written_by_ledger(world, wallet) == 0 and world.balance(wallet) == Decimal("10.00")
    assert world.state.one("SELECT count(*) FROM ledger_idempotency WHERE key = 'port-held-1'") == 0
