"""Pure parts of the capture: what is redacted (in step with the project's other redactors) and the
whole-record framing of flow files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing_proxy.capture.flowfile import looks_like_flows, scan
from routing_proxy.capture.redaction import (
    REDACTED,
    redact_body,
    redact_header,
    redact_query,
    redact_text,
    secret_name,
)
from shadow import redact as shadow_redact
from strangler import logging as strangler_logging


def test_every_name_the_project_treats_as_secret_is_redacted_by_the_capture_too() -> None:
    for key in strangler_logging.SECRET_KEYS:
        assert secret_name(key), key
    for name in ("api_key", "api-key", "token", "secret", "password", "authorization", "cookie",
                 "account_number", "document_number", "signature", "X-Webhook-Signature"):
        assert shadow_redact.SECRET_KEY.search(name) or name.startswith("X-")
        assert secret_name(name), name
    assert REDACTED == shadow_redact.REDACTED
    for harmless in ("content-type", "x-request-id", "idempotency-key", "amount", "ifsc", "reference"):
        assert not secret_name(harmless), harmless


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("Authorization", "Api-Key ps_live_abc", "Api-Key [redacted]"),
    ("authorization", "Bearer eyJhbGciOi", "Bearer [redacted]"),
    ("Authorization", "opaque", "[redacted]"),
    ("Proxy-Authorization", "Basic dXNlcjpwYXNz", "Basic [redacted]"),
    ("Cookie", "sessionid=abc; csrftoken=def", "sessionid=[redacted]; csrftoken=[redacted]"),
    ("Set-Cookie", "sessionid=abc; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Path=/",
     "sessionid=[redacted]; expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Path=/"),
    ("X-Api-Key", "anything", "[redacted]"),
    ("X-CSRFToken", "abc", "[redacted]"),
    ("X-Paystream-Signature", "t=1,v1=abc", "[redacted]"),
    ("X-Forwarded-Note", "key ps_test_abcdef here", "key [redacted] here"),
    ("Idempotency-Key", "pay-1", "pay-1"),
    ("X-Request-ID", "req-123456789012", "req-123456789012"),
])
def test_headers(name: str, value: str, expected: str) -> None:
    assert redact_header(name, value) == expected


def test_json_bodies_lose_secrets_keep_everything_else_and_are_rewritten_only_when_needed() -> None:
    body = json.dumps({"account_number": "123456789012", "ifsc": "HDFC0001234", "amount": "100.50",
                       "nested": {"document_number": "ABCDE1234F", "items": [{"token": "t"}, 7]},
                       "note": "paid to 123456789012", "ref": "550e8400-e29b-41d4-a716-446655440000",
                       "empty_secret": None}, separators=(",", ":")).encode()
    cleaned = json.loads(redact_body(body, "application/json; charset=utf-8"))
    assert cleaned == {"account_number": REDACTED, "ifsc": "HDFC0001234", "amount": "100.50",
                       "nested": {"document_number": REDACTED, "items": [{"token": REDACTED}, 7]},
                       "note": "paid to ********9012", "ref": "550e8400-e29b-41d4-a716-446655440000",
                       "empty_secret": None}
    untouched = b'{ "amount" : "5.00",  "reference": "a" }'
    assert redact_body(untouched, "application/json") is untouched
    assert redact_body(b'{"a": 1, "secret": "x"}', "application/json") == b'{"a": 1, "secret": "[redacted]"}'


def test_form_text_binary_and_query() -> None:
    form = b"username=ops&password=hunter2&csrfmiddlewaretoken=abc&next=%2Fadmin%2F"
    assert redact_body(form, "application/x-www-form-urlencoded") == (
        b"username=ops&password=%5Bredacted%5D&csrfmiddlewaretoken=%5Bredacted%5D&next=%2Fadmin%2F")
    html = b'<input type="hidden" name="csrfmiddlewaretoken" value="abcDEF123">account 123456789012'
    assert redact_body(html, "text/html") == (
        b'<input type="hidden" name="csrfmiddlewaretoken" value="[redacted]">account ********9012')
    binary = bytes(range(256))
    assert redact_body(binary, "application/octet-stream") is binary
    assert redact_query("page=2&api_key=zzz") == "page=2&api_key=%5Bredacted%5D"
    assert redact_query("page=2&page_size=10") == "page=2&page_size=10"
    assert redact_text("ps_live_abc-DEF_123 and 1234567890") == "[redacted] and ******7890"


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=20), max_size=4),
                max_size=6), st.integers(min_value=0, max_value=200))
def test_scan_finds_exactly_the_whole_records(documents: list[dict[str, object]], cut: int) -> None:
    records = [_tnetstring(d) for d in documents]
    data = b"".join(records)
    found = scan(data)
    assert (found.records, found.end, found.torn_bytes) == (len(records), len(data), 0)
    torn = data + (records[0][: cut % max(len(records[0]), 1)] if records else b"")
    found = scan(torn)
    assert found.records == len(records) and found.end == len(data)


def test_scan_names_what_is_wrong_and_detection_tells_flows_from_jsonl() -> None:
    assert scan(b"").records == 0 and scan(b"").problem == ""
    assert "cut short" in scan(b"10:abc").problem
    assert "no record starts at byte 0" in scan(b'{"method": "GET"}').problem
    assert "no valid type tag" in scan(b"1:aX").problem
    assert looks_like_flows(b"123:") and not looks_like_flows(b'{"capability"') and not looks_like_flows(b"")


def _tnetstring(value: object) -> bytes:
    """A minimal tnetstring writer (as mitmproxy.io.tnetstring) for the property test."""
    if isinstance(value, dict):
        payload = b"".join(_tnetstring(k) + _tnetstring(v) for k, v in value.items())
        return b"%d:%s}" % (len(payload), payload)
    if isinstance(value, int):
        text = str(value).encode()
        return b"%d:%s#" % (len(text), text)
    encoded = str(value).encode()
    return b"%d:%s;" % (len(encoded), encoded)
