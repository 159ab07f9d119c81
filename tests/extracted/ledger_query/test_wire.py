"""The legacy wire rendering restates the monolith's codes; these must never drift apart."""

from __future__ import annotations

from decimal import Decimal

from extracted.ledger_query import wire
from monolith.wallets.models import TXN_STATUS_CHOICES, TXN_TYPE_CHOICES


def test_the_legacy_transaction_type_codes_match_the_monolith_models() -> None:
    assert sorted(wire.LEGACY_TXN_TYPE.values()) == sorted(TXN_TYPE_CHOICES)


def test_the_legacy_transaction_status_codes_match_the_monolith_models() -> None:
    assert sorted(wire.LEGACY_TXN_STATUS.values()) == sorted(TXN_STATUS_CHOICES)


def test_amounts_render_as_the_monolith_renders_paise() -> None:
    assert wire.legacy_amount(Decimal("100.50"), "INR") == "100.50"
    assert wire.legacy_amount(Decimal("-3.00"), "INR") == "-3.00"
    assert wire.legacy_amount(Decimal("1234"), "JPY") == "12.34"  # the monolith divides minor units by 100
