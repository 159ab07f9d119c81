"""Money rules: request amounts become exact integer paise; anything else is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monolith.common.money import (
    MAX_AMOUNT_PAISE,
    AmountError,
    format_paise,
    mask_number,
    parse_amount,
)
from monolith.common.parsers import loads_exact


@pytest.mark.parametrize(
    ("value", "paise"),
    [
        ("100.50", 10050), ("100.5", 10050), ("0.01", 1), ("1", 100), (Decimal("100.5"), 10050),
        (7, 700), ("10000000.00", MAX_AMOUNT_PAISE), (Decimal("1E+2"), 10000),
        ("100.500", 10050), ("+5", 500),
    ],
)
def test_valid_amounts_convert_to_exact_paise(value: object, paise: int) -> None:
    assert parse_amount(value) == paise


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "greater than 0"), ("0.00", "greater than 0"), ("-1", "greater than 0"),
        (Decimal("-0.01"), "greater than 0"), ("1.001", "2 decimal places"),
        (Decimal("0.001"), "2 decimal places"), ("10000000.01", "at most 10000000.00"),
        ("abc", "not a valid amount"), ("1e2", "not a valid amount"), ("", "not a valid amount"),
        (" 1", "not a valid amount"), ("NaN", "not a valid amount"),
        ("Infinity", "not a valid amount"), (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"), (True, "decimal number"), (False, "decimal number"),
        (None, "decimal number"), (1.5, "not a float"), ([1], "decimal number"),
        ("9" * 400, "at most"),
    ],
)
def test_invalid_amounts_are_refused_with_a_reason(value: object, reason: str) -> None:
    with pytest.raises(AmountError, match=reason):
        parse_amount(value)


def test_json_numbers_are_parsed_as_decimal_not_float() -> None:
    body = loads_exact('{"amount": 0.1, "n": 3}')
    assert body["amount"] == Decimal("0.1") and isinstance(body["n"], int)
    assert parse_amount(body["amount"]) == 10


@pytest.mark.parametrize("text", ['{"amount": NaN}', '{"amount": Infinity}', '{"a": -Infinity}'])
def test_json_nan_and_infinity_are_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        loads_exact(text)


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_PAISE))
def test_format_then_parse_round_trips_every_amount(paise: int) -> None:
    assert parse_amount(format_paise(paise)) == paise


@pytest.mark.parametrize(("paise", "text"), [(0, "0.00"), (5, "0.05"), (12345, "123.45"),
                                             (-250, "-2.50")])
def test_paise_render_with_exactly_two_decimals(paise: int, text: str) -> None:
    assert format_paise(paise) == text


def test_masking_keeps_only_the_last_four() -> None:
    assert mask_number("123456787890") == "XXXXXX7890"
