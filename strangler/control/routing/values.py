"""Parse what operators type (mode, percentage, sticky key, route, shim path) into checked values.

Pure; no I/O."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from routing_proxy.errors import RouteTableError
from routing_proxy.routes import BASIS_POINTS, KeyKind, KeySource, Mode, RouteRule
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


def parse_route(text: str) -> tuple[str, str]:
    """``"GET /api/v1/wallets/{wallet_id}/"`` → ``("GET", "/api/v1/wallets/{wallet_id}/")``."""
    method, _, path = text.strip().partition(" ")
    method, path = method.upper(), path.strip()
    if not method.isalpha() or not path.startswith("/"):
        raise InvalidRequestError(
            f"route {text!r} is invalid; nothing was changed. Write METHOD /path as `strangler "
            "routes list` shows it, e.g. \"GET /api/v1/wallets/{wallet_id}/balance/\"")
    return method, path


def parse_upstream_path(method: str, path: str, text: str | None) -> str | None:
    """A compatibility shim's path for the route ``method path``, checked as the proxies will
    check it; ``None`` or blank: no shim (the extracted upstream serves the legacy path)."""
    if text is None or not text.strip():
        return None
    try:
        RouteRule(method, path, upstream_path=text.strip())
    except RouteTableError as exc:
        raise InvalidRequestError(f"{exc}. Nothing was changed.") from exc
    return text.strip()
