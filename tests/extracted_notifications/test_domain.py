"""Pure decisions: which events notify about what, channel preferences, addresses, retries."""

from __future__ import annotations

from typing import Any

import pytest

from extracted.notifications import domain
from extracted.notifications.domain import Contact, Preference, RetryPolicy
from extracted.notifications.errors import UnsupportedEvent


def _ledger(kind: str, **extra: Any) -> dict[str, Any]:
    return {"wallet_id": "7", "entry_id": "1", "kind": kind, "amount": {"amount": "5.00", "currency": "INR"},
            "balance_after": {"amount": "5.00", "currency": "INR"}, "counterparty_wallet_id": "9", **extra}


def test_only_v1_paystream_events_are_understood() -> None:
    assert domain.event_name("paystream.wallet.credited.v1") == "wallet.credited"
    with pytest.raises(UnsupportedEvent, match="version v2 is unknown"):
        domain.event_name("paystream.wallet.credited.v2")
    with pytest.raises(UnsupportedEvent, match="not a paystream"):
        domain.event_name("wallet.credited")


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("wallet.credited", _ledger("credit"), "wallet.credited"),
    ("wallet.debited", _ledger("debit"), "wallet.debited"),
    ("wallet.debited", _ledger("transfer_out"), "transfer.completed"),
    ("wallet.credited", _ledger("transfer_in"), None),
    ("wallet.debited", _ledger("payout"), None),
    ("wallet.credited", _ledger("payout_reversal"), None),
    ("payout.requested",
     {"payout_id": "3", "wallet_id": "7", "amount": {"amount": "1.00", "currency": "INR"}}, "payout.created"),
    ("payout.status_changed", {"payout_id": "3", "wallet_id": "7", "status": "paid"}, "payout.paid"),
    ("payout.status_changed", {"payout_id": "3", "wallet_id": "7", "status": "processing"}, None),
    ("kyc.verified", {"customer_id": "4", "document_type": "pan"}, "kyc.verified"),
    ("wallet.opened", {"wallet_id": "7"}, None),
])
def test_events_map_to_the_notifications_the_monolith_sends(
        name: str, data: dict[str, Any], kind: str | None) -> None:
    found = domain.occurrence(name, data)
    assert (found.kind if found else None) == kind


def test_a_payout_status_needs_the_payouts_amount_and_a_kyc_decision_names_its_customer() -> None:
    paid = domain.occurrence("payout.status_changed", {"payout_id": "3", "wallet_id": "7", "status": "failed",
                                                       "failure_reason": "closed account"})
    assert paid is not None
    assert (paid.payout_id, paid.wallet_id, paid.fields["status"], paid.fields["failure_reason"]) == (
        3, 7, "FAILED", "closed account")
    kyc = domain.occurrence("kyc.rejected", {"customer_id": "4", "document_type": "pan", "reason": None})
    assert kyc is not None and (kyc.customer_id, kyc.fields["reason"]) == (4, "")


def test_data_missing_what_the_contract_promised_is_unsupported_not_a_crash() -> None:
    with pytest.raises(UnsupportedEvent, match="lacks"):
        domain.occurrence("wallet.credited", {"wallet_id": "7", "kind": "credit"})


def test_by_default_only_email_like_the_monolith() -> None:
    assert domain.opted_in("wallet.credited", []) == ["email"]


def test_a_kinds_own_preference_beats_the_catch_all() -> None:
    rules = [Preference("*", "sms", True), Preference("*", "email", False),
             Preference("wallet.credited", "email", True), Preference("wallet.credited", "sms", False)]
    assert domain.opted_in("wallet.credited", rules) == ["email"]
    assert domain.opted_in("kyc.verified", rules) == ["sms"]
    assert domain.opted_in("kyc.verified", [Preference("kyc.verified", "push", True)]) == ["email", "push"]


def test_a_channel_that_cannot_reach_the_customer_is_skipped_not_dropped() -> None:
    contact = Contact(4, email="a@example.com", phone=None)
    found = domain.recipients("kyc.verified", contact, [Preference("*", "sms", True),
                                                       Preference("*", "push", True)])
    assert [(r.channel, r.address, r.skipped) for r in found] == [
        ("email", "a@example.com", False), ("sms", "", True), ("push", "customer:4", False)]


def test_preferences_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        domain.parse_preference("*", "fax", True)
    with pytest.raises(ValueError, match="unknown notification kind"):
        domain.parse_preference("wallet.exploded", "email", True)


def test_retries_back_off_with_jitter_then_give_up() -> None:
    low = RetryPolicy(max_attempts=4, base=10, cap=25, jitter=lambda: 0.0)
    high = RetryPolicy(max_attempts=4, base=10, cap=25, jitter=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3)] == [5.0, 10.0, 12.5]
    assert [high.delay(n) for n in (1, 2, 3)] == [10.0, 20.0, 25.0]
    assert low.delay(4) is None
