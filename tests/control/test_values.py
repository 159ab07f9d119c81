"""Operator input is parsed strictly: modes, percentages in 0.01 steps, sticky keys."""

from __future__ import annotations

import pytest

from strangler.control.routing.errors import InvalidRequestError
from strangler.control.routing.values import parse_mode, parse_percent, parse_sticky_key


@pytest.mark.parametrize(("text", "bp"), [("5.25", 525), ("0.01", 1), ("100", 10000), ("50%", 5000)])
def test_percentages_become_basis_points(text: str, bp: int) -> None:
    assert parse_percent(text) == bp


@pytest.mark.parametrize("text", ["0", "0.001", "100.01", "-5", "abc", "NaN", ""])
def test_invalid_percentages_are_refused_with_the_allowed_range(text: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"0\.01 to 100"):
        parse_percent(text)


def test_unknown_mode_is_refused_listing_the_modes() -> None:
    assert parse_mode("Canary") == "canary"
    with pytest.raises(InvalidRequestError, match="monolith, shadow, canary, extracted"):
        parse_mode("half")


def test_sticky_key_spec_is_kind_source_name() -> None:
    assert parse_sticky_key("merchant_id:header:X-Merchant-ID") == {
        "kind": "merchant_id", "source": "header", "name": "X-Merchant-ID"}
    with pytest.raises(InvalidRequestError, match="KIND:SOURCE:NAME"):
        parse_sticky_key("merchant:cookie:x")
