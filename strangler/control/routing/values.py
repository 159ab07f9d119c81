"""Parse what operators type (mode, percentage, sticky key) into checked values. Pure; no I/O."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from routing_proxy.routes import BASIS_POINTS, KeyKind, KeySource, Mode
from strangler.control.routing.errors import InvalidRequestError

DEFAULT_STICKY_KEY = {"kind": "api_key", "source": "header", "name": "Authorization"}


def parse_mode(text: str) -> str:
    try:
        return Mode(text.strip().lower()).value
    except ValueError:
        raise InvalidRequestError(
            f"mode {text!r} is not one of {', '.join(m.value for m in Mode)}; nothing was changed."
        ) from None


def parse_percent(text: Any) -> int:
    """``"5.25"`` → 525 basis points; 0.01 % steps, from 0.01 to 100."""
    try:
        value = Decimal(str(text).strip().rstrip("%")) * 100
    except InvalidOperation:
        value = Decimal("NaN")
    if value.is_nan() or value != value.to_integral_value() or not 1 <= value <= BASIS_POINTS:
        raise InvalidRequestError(
            f"percentage {text!r} is invalid; nothing was changed. Give a number from 0.01 to 100 "
            "in steps of 0.01, e.g. 5.25"
        )
    return int(value)


def parse_sticky_key(text: str) -> dict[str, str]:
    """``"merchant_id:header:X-Merchant-ID"`` → the snapshot's sticky key object."""
    kind, _, rest = text.partition(":")
    source, _, name = rest.partition(":")
    try:
        KeyKind(kind)
        KeySource(source)
    except ValueError:
        name = ""
    if not name:
        raise InvalidRequestError(
            f"sticky key {text!r} is invalid; nothing was changed. Write KIND:SOURCE:NAME with KIND "
            f"one of {', '.join(KeyKind)} and SOURCE one of {', '.join(KeySource)}, e.g. "
            "merchant_id:header:X-Merchant-ID"
        )
    return {"kind": kind, "source": source, "name": name}
