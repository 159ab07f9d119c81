"""Pure decisions: event names, subscriptions, ownership, payload, backoff with jitter, outcomes."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from extracted.webhooks import domain
from extracted.webhooks.errors import UnsupportedEvent


def test_event_type_maps_to_the_webhook_event_name() -> None:
    assert domain.webhook_event_name("paystream.wallet.credited.v1") == "wallet.credited"
    with pytest.raises(UnsupportedEvent, match=r"not a paystream\.<aggregate>"):
        domain.webhook_event_name("other.wallet.credited")


def test_subscriptions_are_validated_deduplicated_and_wildcard_wins() -> None:
    assert domain.validate_subscriptions(["wallet.credited", "wallet.credited"]) == ["wallet.credited"]
    assert domain.validate_subscriptions(["wallet.credited", "*"]) == ["*"]
    with pytest.raises(ValueError, match=r"unknown event names \['wallet.exploded'\]"):
        domain.validate_subscriptions(["wallet.exploded"])
    assert domain.subscribed(["*"], "kyc.verified")
    assert not domain.subscribed(["kyc.rejected"], "kyc.verified")


def test_owner_is_the_merchant_else_the_wallet_else_the_customer() -> None:
    assert domain.owner_of("payout.requested", {"merchant_id": "7", "wallet_id": "1"}) == domain.Owner(7)
    assert domain.owner_of("wallet.credited", {"wallet_id": "3"}) == domain.Owner(wallet_id=3)
    assert domain.owner_of("kyc.verified", {"customer_id": "4"}) == domain.Owner(customer_id=4)


def test_payload_is_deterministic_compact_json() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    body = domain.payload("e1", "wallet.credited", at, {"b": 1, "a": 2})
    assert body == domain.payload("e1", "wallet.credited", at, {"a": 2, "b": 1})
    assert json.loads(body) == {"id": "e1", "type": "wallet.credited", "created_at": "2026-01-01T00:00:00Z",
                                "data": {"a": 2, "b": 1}}


def test_backoff_ceiling_doubles_from_base_up_to_the_cap() -> None:
    b = domain.Backoff(base=10, cap=100)
    assert [b.ceiling(n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_backoff_jitter_stays_within_half_to_full_ceiling() -> None:
    b = domain.Backoff(base=1, cap=3600)
    assert b.delay(3, rng=lambda: 0.0) == 2.0  # lower bound: half of 4
    assert b.delay(3, rng=lambda: 1.0) == 4.0  # upper bound: the ceiling
    rng = random.Random(7)
    delays = [b.delay(5, rng.random) for _ in range(1000)]
    assert all(8 <= d <= 16 for d in delays)
    assert max(delays) - min(delays) > 4  # actually spread, not a constant


def test_outcome_decisions() -> None:
    b = domain.Backoff(1, 10)
    ok, boom = domain.AttemptResult(204, ""), domain.AttemptResult(500, "")
    assert domain.decide(ok, 1, 3, b) == domain.Decision("delivered")
    retry = domain.decide(boom, 1, 3, b, rng=lambda: 0.5)
    assert retry == domain.Decision("retrying", 0.75)
    assert domain.decide(boom, 3, 3, b) == domain.Decision("dead_lettered")
    refused = domain.AttemptResult(None, "refused", permanent=True)
    assert domain.decide(refused, 1, 3, b) == domain.Decision("dead_lettered")
    assert domain.decide(domain.AttemptResult(302, ""), 1, 3, b).status == "retrying"
    assert "redirects are not followed" in domain.describe_failure(302, "")
