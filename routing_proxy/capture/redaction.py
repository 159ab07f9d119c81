"""What ``strangler capture`` removes from recorded traffic before a byte reaches the flow file.

Standard library only: this module also runs inside the mitmproxy process, whose
interpreter may be a separate virtualenv without the toolkit (see ``runtime``).

The notion of a secret is the project's (``shadow.redact`` and ``strangler.logging``;
a test keeps the three in step):

- headers: ``Authorization`` and ``Proxy-Authorization`` keep their scheme
  (``Api-Key [redacted]``); ``Cookie`` and ``Set-Cookie`` keep cookie names and
  attributes, not values; any other header whose name names a secret
  (``X-Api-Key``, ``X-CSRFToken``, ``*-Signature``, ``*-Token``, …) loses its value;
- bodies (JSON, form-encoded, other text): values under keys that name a secret
  (``account_number``, ``document_number``, ``password``, ``secret``, ``token``, …)
  become ``[redacted]``; in every string, API keys (``ps_live_…``/``ps_test_…``) are
  removed and runs of 9-18 digits (bank account numbers) keep only their last four;
- query strings: parameters that name a secret.

Unlike ``shadow.redact`` nothing is cut short: the request must stay replayable.
A body is rewritten only when something in it was redacted.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"  # the same marker as shadow.redact.REDACTED

# Key names (JSON keys, form fields, query parameters, header names) that name a secret.
SECRET_NAME = re.compile(
    r"(api[_-]?key|token|secret|password|passwd|authorization|cookie|account[_-]?number|"
    r"document[_-]?number|signature|session|csrf)",
    re.IGNORECASE,
)
API_KEY_VALUE = re.compile(r"ps_(?:live|test)_[A-Za-z0-9_-]+")
ACCOUNT_DIGITS = re.compile(r"\b\d{9,18}\b")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CSRF_INPUT = re.compile(r'(name=["\']csrfmiddlewaretoken["\']\s+value=["\'])[^"\']*', re.IGNORECASE)
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_COOKIE_ATTRIBUTES = frozenset({"expires", "max-age", "domain", "path", "secure", "httponly", "samesite",
                                "partitioned", "priority"})
_MAX_JSON_DEPTH = 64

Headers = list[tuple[str, str]]


def mask_digits(match: re.Match[str]) -> str:
    digits = match.group()
    return "*" * (len(digits) - 4) + digits[-4:]


def redact_text(value: str) -> str:
    """API keys out, account-number-like digit runs down to their last four digits."""
    if _UUID.match(value):
        return value
    value = API_KEY_VALUE.sub(REDACTED, value)
    return ACCOUNT_DIGITS.sub(mask_digits, value)


def secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def _cookie_pairs(value: str, *, set_cookie: bool) -> str:
    parts = []
    for index, part in enumerate(value.split(";")):
        name, sep, _ = part.partition("=")
        attribute = set_cookie and index > 0 and name.strip().lower() in _COOKIE_ATTRIBUTES
        parts.append(part if attribute or not sep else f"{name}={REDACTED}")
    return ";".join(parts)


def redact_header(name: str, value: str) -> str:
    lower = name.lower()
    if lower in _AUTH_HEADERS:
        scheme, sep, _ = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if sep else REDACTED
    if lower == "cookie":
        return _cookie_pairs(value, set_cookie=False)
    if lower == "set-cookie":
        return _cookie_pairs(value, set_cookie=True)
    if secret_name(lower):
        return REDACTED
    return API_KEY_VALUE.sub(REDACTED, value)


def redact_headers(headers: Headers) -> Headers:
    return [(name, redact_header(name, value)) for name, value in headers]


def redact_json(value: Any, key: str = "", depth: int = 0) -> Any:
    """A copy of a parsed JSON document with secrets out (full length, unlike shadow.redact)."""
    if key and secret_name(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_JSON_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: redact_json(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, key, depth + 1) for v in value]
    return value


def _redact_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if secret_name(k) and v else redact_text(v)) for k, v in pairs]


def redact_query(query: str) -> str:
    """A query string (no ``?``) with secret-named parameters redacted; unchanged text if none."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    cleaned = _redact_pairs(pairs)
    return query if cleaned == pairs else urlencode(cleaned)


def redact_body(body: bytes, content_type: str) -> bytes:
    """``body`` with secrets out; the very same bytes when there was nothing to redact."""
    if not body:
        return body
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body  # binary: nothing we know how to read
    if "json" in media or (not media and text.lstrip()[:1] in ("{", "[")):
        try:
            document = json.loads(text)
        except ValueError:
            pass
        else:
            cleaned = redact_json(document)
            if cleaned == document:
                return body
            compact = ", " not in text and ": " not in text
            separators = (",", ":") if compact else (", ", ": ")
            return json.dumps(cleaned, ensure_ascii=False, separators=separators).encode("utf-8")
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        cleaned_pairs = _redact_pairs(pairs)
        return body if cleaned_pairs == pairs else urlencode(cleaned_pairs).encode("utf-8")
    if media.startswith("text/") or "json" in media or "xml" in media or "javascript" in media:
        cleaned_text = redact_text(_CSRF_INPUT.sub(lambda m: m.group(1) + REDACTED, text))
        return body if cleaned_text == text else cleaned_text.encode("utf-8")
    return body
