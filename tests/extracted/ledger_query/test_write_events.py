"""What the write path announces: dry runs for shadow copies, and its events coming back.

A shadow copy (``X-Strangler-Shadow``) answers as a real write would and changes nothing:
no posting, no balance, no stored Idempotency-Key; the answer's side-effect header names
the event the write would have published, equal (but for ids and times) to the one a
real write then records. A posting the write path made, seen again as a domain event (the
legacy tables synced from it announce it back), is recognised by its id and applied never twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from acl.contracts import ContractRegistry, load_contracts
from acl.domain import DomainEvent
from extracted.ledger_query.write_store import WRITE_ID_BASE
from shadow.rules import parse_rules
from shadow.side_effects import HEADER, Effect, compare_effects, decode_header
from tests.extracted.ledger_query.ledger_service import World

SHADOW = {"X-Strangler-Shadow": "1"}
RULES = parse_rules("""
[capabilities."wallets"]
dry_run = true
side_effects_ignore = ["/*/*/entry_id"]
timestamps = [{ path = "/**", seconds = 60 }]
""").for_capability("wallets")


def _counts(world: World, wallet: int) -> tuple[Any, ...]:
    return (world.balance(wallet),
            world.state.one("SELECT count(*) FROM ledger_transaction WHERE wallet_id = %s", wallet),
            world.state.one("SELECT count(*) FROM ledger_entry WHERE account = %s", f"wallet:{wallet}"),
            world.state.one("SELECT count(*) FROM ledger_write_event WHERE wallet_id = %s", wallet),
            world.state.one("SELECT count(*) FROM ledger_idempotency WHERE merchant_id = %s", world.merchant))


def _shadow(world: World, path: str, body: str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Api-Key {world.key}", "Content-Type": "application/json", **SHADOW}
    if key:
        headers["Idempotency-Key"] = key
    return httpx.post(world.service + path, content=body, headers=headers, timeout=30)


def _recorded(world: World, wallet: int) -> list[Effect]:
    rows = world.state.one(
        "SELECT coalesce(json_agg(json_build_array(event_type, data) ORDER BY transaction_id), '[]')"
        " FROM ledger_write_event WHERE wallet_id = %s", wallet)
    return [Effect(t, f"wallet:{wallet}", d) for t, d in rows]


def test_a_shadowed_credit_changes_nothing_and_names_the_event_a_real_one_publishes(world: World) -> None:
    wallet = world.wallet(balance=20_00)
    before = _counts(world, wallet)
    path, body = f"/api/v1/wallets/{wallet}/credit/", '{"amount": "5.25", "reference": "inv-9"}'
    dry = _shadow(world, path, body, key="dry-1")
    assert dry.status_code == 201 and dry.json()["balance_after"] == "25.25"
    assert _counts(world, wallet) == before
    would = decode_header(dry.headers[HEADER])
    assert would is not None and [e.type for e in would] == ["paystream.wallet.credited.v1"]

    real = world.post(path, body, key="dry-1")  # the key was not kept by the dry run
    assert real.status_code == 201 and real.json()["balance_after"] == "25.25"
    assert real.json()["id"] != dry.json()["id"]
    recorded = _recorded(world, wallet)
    assert compare_effects(recorded, would, RULES) == []
    # a candidate that would credit one paisa more is caught
    wrong = [Effect(e.type, e.aggregate, {**e.data, "amount": {"amount": "5.26", "currency": "INR"}})
             for e in would]
    assert compare_effects(recorded, wrong, RULES) != []


def test_a_shadowed_transfer_names_both_legs_and_a_refused_one_names_none(world: World) -> None:
    one, two = world.wallet(balance=10_00), world.wallet(balance=0)
    before = (_counts(world, one), _counts(world, two))
    body = f'{{"from_wallet_id": {one}, "to_wallet_id": {two}, "amount": "4.00"}}'
    dry = _shadow(world, "/api/v1/transfers/", body)
    assert dry.status_code == 201
    would = decode_header(dry.headers[HEADER]) or []
    assert sorted(e.type for e in would) == ["paystream.wallet.credited.v1", "paystream.wallet.debited.v1"]
    refused = _shadow(world, f"/api/v1/wallets/{one}/debit/", '{"amount": "10.01"}')
    assert refused.status_code == 409 and refused.json()["error_code"] == "INSUFFICIENT_FUNDS"
    assert decode_header(refused.headers[HEADER]) == []
    assert (_counts(world, one), _counts(world, two)) == before


def test_a_posting_announced_back_as_a_monolith_event_is_not_applied_twice(world: World) -> None:
    wallet = world.wallet(balance=0)
    posted = world.post(f"/api/v1/wallets/{wallet}/credit/", '{"amount": "3.00"}')
    assert posted.status_code == 201 and posted.json()["id"] >= WRITE_ID_BASE
    world.post(f"/api/v1/wallets/{wallet}/credit/", '{"amount": "1.00"}')
    before = _counts(world, wallet)
    updated_at = world.state.one("SELECT updated_at FROM ledger_wallet WHERE wallet_id = %s", wallet)
    registry = ContractRegistry(load_contracts())
    for effect in _recorded(world, wallet):
        # what the monolith's outbox announces once its legacy tables are synced from this posting
        registry.validate_emitted(DomainEvent(effect.type, "wallet", str(wallet), datetime.now(UTC),
                                              effect.data))
        world.state.apply(effect.type, effect.data)
    assert _counts(world, wallet) == before
    assert world.balance(wallet) == Decimal("4.00")
    assert world.state.one("SELECT updated_at FROM ledger_wallet WHERE wallet_id = %s", wallet) == updated_at


def test_a_read_fenced_behind_a_write_the_ledger_answered_is_a_hit(world: World) -> None:
    """The proxy's read-your-writes fence: the write path records its request as applied."""
    wallet = world.wallet(balance=0)
    request_id = f"rq-{wallet}"
    sent = int(time.time() * 1000)
    credited = httpx.post(f"{world.service}/api/v1/wallets/{wallet}/credit/", content='{"amount": "2.00"}',
                          headers={"Authorization": f"Api-Key {world.key}", "X-Request-ID": request_id,
                                   "Content-Type": "application/json"})
    assert credited.status_code == 201
    read = httpx.get(f"{world.service}/api/v1/wallets/{wallet}/balance/",
                     headers={"Authorization": f"Api-Key {world.key}",
                              "X-Strangler-Fence": f"{request_id}@{sent}", "X-Strangler-Fence-Wait": "0"})
    assert read.headers["X-Strangler-Fence-Result"] == "hit" and read.json()["balance"] == "2.00"
    never = {"Authorization": f"Api-Key {world.key}", "X-Strangler-Fence": f"rq-never-{wallet}@{sent}",
             "X-Strangler-Fence-Wait": "0"}
    assert httpx.get(f"{world.service}/api/v1/wallets/{wallet}/balance/", headers=never).status_code == 503
