"""Shared formatting for the renderers."""

from __future__ import annotations

import json
from typing import Any


def pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.3f} %"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"
