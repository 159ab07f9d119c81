"""JSON request parser that keeps money exact: numbers with a fraction become ``Decimal``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and never a valid amount.
    raise ValueError(f"{name} is not valid JSON")


def loads_exact(text: str) -> Any:
    """``json.loads`` with Decimal for non-integers and NaN/Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class DecimalJSONParser(JSONParser):
    """DRF's JSON parser, but floats are parsed as ``Decimal`` and errors say what broke."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("Malformed JSON: the body is not UTF-8.") from exc
        try:
            return loads_exact(text)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise ParseError(f"Malformed JSON: {exc}.") from exc
