"""Exact money rules of the legacy API: request amounts <-> integer paise, never a float.

Pure functions, no Django. A request amount is a JSON string (``"100.50"``) or a
JSON number that the parser already turned into a :class:`~decimal.Decimal`.
Responses always render paise as a string with exactly two decimals.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_AMOUNT_PAISE = 10_000_000_00
_PAISE_QUANTUM = Decimal("0.01")
# Plain decimal notation only: no exponent, no whitespace, no NaN/Infinity spelled as text.
_AMOUNT_TEXT = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


class AmountError(ValueError):
    """An amount a client sent is not acceptable; the message says why, for the client."""


def parse_amount(value: object) -> int:
    """Return ``value`` as a positive number of paise, or raise :class:`AmountError`.

    Accepts a string in plain decimal notation, an ``int`` or a ``Decimal``. Rejects
    floats (they are already inexact), booleans, non-finite values, values <= 0,
    more than two decimal places and more than 10,000,000.00.
    """
    if isinstance(value, bool) or value is None:
        raise AmountError("Amount must be a decimal number or a string such as \"100.50\".")
    if isinstance(value, float):
        # A float means the caller lost exactness before we saw the value.
        raise AmountError("Amount must be parsed as a Decimal, not a float.")
    if isinstance(value, str):
        if not _AMOUNT_TEXT.match(value):
            raise AmountError(f"{value[:40]!r} is not a valid amount; send e.g. \"100.50\".")
        amount = Decimal(value)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise AmountError("Amount must be a decimal number or a string such as \"100.50\".")
    if not amount.is_finite():
        raise AmountError("Amount must be a finite number.")
    if amount <= 0:
        raise AmountError("Amount must be greater than 0.")
    if amount > Decimal(MAX_AMOUNT_PAISE) / 100:
        raise AmountError("Amount must be at most 10000000.00.")
    try:
        rounded = amount.quantize(_PAISE_QUANTUM)
    except InvalidOperation as exc:  # pragma: no cover - bounded above, kept for safety
        raise AmountError("Amount is not a valid number.") from exc
    if rounded != amount:
        raise AmountError("Amount must have at most 2 decimal places.")
    return int(rounded.scaleb(2))


def format_paise(paise: int) -> str:
    """Render integer paise as the API does: ``12345`` -> ``"123.45"``."""
    sign = "-" if paise < 0 else ""
    whole, fraction = divmod(abs(paise), 100)
    return f"{sign}{whole}.{fraction:02d}"


def mask_number(number: str) -> str:
    """Mask an account or document number the legacy way: ``XXXXXX`` plus its last four."""
    return "XXXXXX" + number[-4:]
