"""Unit tests of the pure ledger domain, the sync-lag rule and the legacy wire codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from extracted.ledger_query import domain
from extracted.ledger_query.errors import UnsupportedEvent
from extracted.ledger_query.sync import sync_lag


def credited(**overrides: Any) -> dict[str, Any]:
    data = {
        "wallet_id": "7",
        "entry_id": "42",
        "kind": "credit",
        "amount": {"amount": "100.50", "currency": "INR"},
        "balance_after": {"amount": "250.00", "currency": "INR"},
        "reference": "r-1",
        "description": None,
        "counterparty_wallet_id": None,
        "posted_at": "2026-01-02T03:04:05.123456Z",
    }
    return {**data, **overrides}


def test_a_credit_posts_two_legs_that_sum_to_zero_with_the_wallet_leg_positive() -> None:
    [post] = domain.decide("paystream.wallet.credited.v1", credited())
    assert isinstance(post, domain.PostTransaction)
    assert post.amount == Decimal("100.50") and post.balance_after == Decimal("250.00")
    wallet, contra = post.legs
    assert (wallet.account, wallet.amount) == ("wallet:7", Decimal("100.50"))
    assert (contra.account, contra.amount) == ("contra:credit", Decimal("-100.50"))
    assert wallet.amount + contra.amount == 0
    assert post.posted_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_a_payout_debit_is_negative_for_the_wallet_and_keeps_its_counterparty() -> None:
    data = credited(kind="payout", counterparty_wallet_id="9")
    [post] = domain.decide("paystream.wallet.debited.v1", data)
    assert isinstance(post, domain.PostTransaction)
    assert post.amount == Decimal("-100.50") and post.counterparty_wallet_id == 9
    assert post.legs[1].account == "contra:payout" and post.legs[1].amount == Decimal("100.50")


def test_a_kind_that_contradicts_the_event_direction_is_refused() -> None:
    with pytest.raises(UnsupportedEvent, match="does not move money out"):
        domain.decide("paystream.wallet.debited.v1", credited(kind="credit"))


def test_an_unknown_version_of_a_known_event_is_unsupported_not_guessed() -> None:
    with pytest.raises(UnsupportedEvent, match="unknown event type or version"):
        domain.decide("paystream.wallet.credited.v2", credited())


def test_amounts_with_more_digits_than_the_currency_allows_are_refused() -> None:
    with pytest.raises(UnsupportedEvent, match="more digits"):
        domain.decide("paystream.wallet.credited.v1", credited(amount={"amount": "1.005", "currency": "INR"}))


def test_events_the_ledger_does_not_hold_map_to_no_effect() -> None:
    assert domain.decide("paystream.payout.status_changed.v1", {"anything": 1}) == []


def test_kyc_verified_unlocks_the_customer() -> None:
    [effect] = domain.decide(
        "paystream.kyc.verified.v1",
        {
            "submission_id": "1",
            "customer_id": "5",
            "document_type": "pan",
            "verified_at": "2026-01-02T03:04:05Z",
        },
    )
    assert effect == domain.VerifyCustomer(5, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_an_api_key_event_must_carry_a_sha256_hash_not_a_raw_key() -> None:
    with pytest.raises(UnsupportedEvent, match="64 lower-case hex"):
        domain.decide(
            "paystream.merchant.api_key_issued.v1",
            {
                "key_id": "1",
                "merchant_id": "2",
                "key_hash": "ps_live_raw",
                "issued_at": "2026-01-01T00:00:00Z",
            },
        )


def test_minor_units_are_exact_for_two_and_zero_decimal_currencies() -> None:
    assert domain.minor_units(Decimal("123.45"), "INR") == 12345
    assert domain.minor_units(Decimal("1234"), "JPY") == 1234


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_sync_lag_counts_from_the_later_of_newest_event_and_last_caught_up_mark() -> None:
    lag = sync_lag(NOW - timedelta(seconds=30), NOW - timedelta(seconds=0.5), NOW, 2.0)
    assert lag.seconds == pytest.approx(0.5) and not lag.stale
    assert lag.header_value() == "0.500"


def test_sync_lag_above_the_threshold_is_flagged_stale() -> None:
    lag = sync_lag(NOW - timedelta(seconds=2.5), None, NOW, 2.0)
    assert lag.stale and lag.header_value() == "2.500"


def test_an_unknown_sync_lag_is_stale() -> None:
    lag = sync_lag(None, None, NOW, 2.0)
    assert lag.seconds is None and lag.stale and lag.header_value() == "unknown"


def test_a_posting_keeps_the_wallets_own_updated_at_when_the_event_carries_it() -> None:
    [with_it] = domain.decide("paystream.wallet.credited.v1",
                              credited(wallet_updated_at="2026-03-01T10:00:00.000100Z"))
    [without] = domain.decide("paystream.wallet.credited.v1", credited())
    assert isinstance(with_it, domain.PostTransaction) and isinstance(without, domain.PostTransaction)
    assert with_it.wallet_updated_at is not None
    assert with_it.wallet_updated_at.isoformat() == "2026-03-01T10:00:00.000100+00:00"
    assert without.wallet_updated_at is None
