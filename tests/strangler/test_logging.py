"""Logs never carry API keys, tokens or bank account numbers."""

from __future__ import annotations

from strangler.logging import REDACTED, Redactor


def test_secret_keys_and_secret_looking_values_are_redacted() -> None:
    event = Redactor()(None, "info", {
        "event": "payout for account 123456789012 with key ps_live_abcDEF123",
        "authorization": "Api-Key whatever",
        "headers": {"X-Api-Key": "k", "accept": "json"},
        "amount": 100,
    })
    assert "123456789012" not in event["event"] and "ps_live_abcDEF123" not in event["event"]
    assert event["authorization"] == REDACTED
    assert event["headers"] == {"X-Api-Key": REDACTED, "accept": "json"}
    assert event["amount"] == 100
