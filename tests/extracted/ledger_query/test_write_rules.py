"""The write path's pure rules against the monolith's own: refusals, bodies, limit, events.

The ledger restates what it cannot import from the monolith (its modules pull in the
monolith's Django models); these tests hold the restatements to the originals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings

from acl.contracts import ContractRegistry, load_contracts
from acl.domain import Change, DomainEvent
from acl.translators import translate
from extracted.ledger_query import write_rules as rules
from extracted.ledger_query.write_path import MovementSerializer, TransferSerializer
from monolith.wallets import serializers as legacy_serializers
from monolith.wallets import services as legacy
from monolith.wallets.models import WALLET_ACTIVE, WALLET_CLOSED, WALLET_FROZEN

LIMIT = 10_000_00
STATUSES = {"active": WALLET_ACTIVE, "frozen": WALLET_FROZEN, "closed": WALLET_CLOSED}


def _both(status: str, locked: bool, balance: int) -> tuple[rules.WalletState, legacy.WalletState]:
    return (rules.WalletState(7, 1, "INR", status, locked, balance),
            legacy.WalletState(7, STATUSES[status], locked, balance))


def _same(ours: rules.Refusal | None, theirs: legacy.Refusal | None) -> None:
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    assert (ours.error_code, ours.message, ours.status) == (theirs.error_code, theirs.message, theirs.status)


@pytest.mark.parametrize("status", sorted(STATUSES))
@pytest.mark.parametrize("locked", [False, True])
@pytest.mark.parametrize("balance", [0, 1, 999_999, 10_000_00, 12_345_67])
@pytest.mark.parametrize("amount", [1, 50_00, 10_000_00, 10_000_000_00])
def test_refusals_are_the_monolith_s_word_for_word(status: str, locked: bool, balance: int,
                                                   amount: int) -> None:
    ours, theirs = _both(status, locked, balance)
    _same(rules.refuse_credit(ours, amount, LIMIT), legacy.refuse_credit(theirs, amount, LIMIT))
    _same(rules.refuse_debit(ours, amount), legacy.refuse_debit(theirs, amount))


def test_the_kyc_limit_is_the_monolith_s() -> None:
    from extracted.ledger_query import settings as ledger_settings

    assert ledger_settings.LEDGER_MIN_KYC_BALANCE_LIMIT == settings.PAYSTREAM_MIN_KYC_BALANCE_LIMIT
    assert ledger_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _fields(serializer: Any) -> list[tuple[str, str, Any]]:
    return [(name, type(field).__name__, repr(field)) for name, field in serializer().fields.items()]


def test_request_bodies_are_the_monolith_s() -> None:
    assert _fields(MovementSerializer) == _fields(legacy_serializers.MovementSerializer)
    assert _fields(TransferSerializer) == _fields(legacy_serializers.TransferSerializer)


def test_a_posting_moves_the_balance_by_its_direction() -> None:
    state = rules.WalletState(7, 1, "INR", "active", False, 100_00)
    out = rules.post(state, "debit", 40_00, reference="", description="x")
    assert (out.balance_after, out.reference, out.description) == (60_00, None, "x")
    into = rules.post(rules.after(state, out), "payout_reversal", 40_00)
    assert into.balance_after == 100_00
    with pytest.raises(ValueError, match="unknown ledger kind"):
        rules.post(state, "gift", 1)


@pytest.mark.parametrize("kind, counterparty", [("credit", None), ("transfer_out", 8), ("payout", None)])
def test_the_event_of_a_posting_is_what_the_acl_publishes_for_the_same_legacy_row(
        kind: str, counterparty: int | None) -> None:
    codes = {"credit": 1, "transfer_out": 4, "payout": 5}
    posted = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    updated = posted - timedelta(microseconds=40)
    target = rules.WalletState(counterparty or 0, 1, "INR", "active", False, 0)
    posting = rules.post(rules.WalletState(7, 1, "INR", "active", False, 500_00), kind, 123_45,
                         reference="payout:9" if kind == "payout" else "",
                         description="Payout to XXXXXX1234" if kind == "payout" else "",
                         counterparty=target if counterparty else None)
    event_type, data = rules.event_of(posting, 10**15 + 3, posted, updated)
    legacy_row = {
        "id": 10**15 + 3, "wallet_id": 7, "txn_type": codes[kind], "amount": 123_45,
        "balance_after": posting.balance_after, "status": 1,
        "reference": posting.reference or "", "description": posting.description or "",
        "related_wallet_id": counterparty, "created_at": posted.isoformat(),
    }
    change = Change("outbox:1", "wallets_transaction", "INSERT", None, legacy_row, posted, None, None,
                    {"wallet_currency": "INR", "wallet_updated_at": updated.isoformat()})
    (acl_event,) = translate(change)
    assert (event_type, data) == (acl_event.type, acl_event.data)
    ContractRegistry(load_contracts()).validate_emitted(DomainEvent(event_type, "wallet", "7", posted, data))
