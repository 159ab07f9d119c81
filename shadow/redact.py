"""Redaction of samples before they are stored or reported: no API keys, tokens or account numbers.

Pure. Keys that name a secret lose their value; strings of 9-18 digits (bank
account numbers) keep only their last four digits; long values are cut.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization|cookie|account_number|"
                        r"document_number|signature)", re.IGNORECASE)
_DIGITS = re.compile(r"\b\d{9,18}\b")
_BEARER = re.compile(r"(?i)\b(bearer|token|api[_-]?key)[ =:]+\S+")
MAX_TEXT = 200
REDACTED = "[redacted]"


def _text(value: str) -> str:
    value = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    value = _DIGITS.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], value)
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"


def redact(value: Any, path: str = "", depth: int = 0) -> Any:
    """A copy of ``value`` safe to store; ``path`` is where it came from (its last key is checked)."""
    if SECRET_KEY.search(path.rsplit("/", 1)[-1]):
        return REDACTED
    if isinstance(value, str):
        return _text(value)
    if depth > 3:
        return "…"
    if isinstance(value, dict):
        return {k: redact(v, f"{path}/{k}", depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, list):
        return [redact(v, path, depth + 1) for v in value[:10]]
    return value
