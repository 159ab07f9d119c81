"""Signature scheme: HMAC-SHA256 over "<t>.<body>", verified with a replay window."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from extracted.webhooks import signing
from extracted.webhooks.errors import InvalidSignature

SECRET, BODY, T = "whsec_test", b'{"id":"e1","type":"wallet.credited"}', 1_800_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_receiver_accepts_a_fresh_signature_inside_the_window() -> None:
    assert signing.verify(SECRET, signing.sign(SECRET, T, BODY), BODY, now=T + 299) == T


@pytest.mark.parametrize("now", [T + 301, T - 301])
def test_receiver_rejects_a_replay_outside_the_window(now: int) -> None:
    with pytest.raises(InvalidSignature, match="outside the 300s window"):
        signing.verify(SECRET, signing.sign(SECRET, T, BODY), BODY, now=now)


def test_a_changed_body_timestamp_or_secret_fails_verification() -> None:
    header = signing.sign(SECRET, T, BODY)
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        signing.verify(SECRET, header, BODY + b" ", now=T)
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        signing.verify("other", header, BODY, now=T)
    moved = header.replace(f"t={T}", f"t={T + 1}")  # replaying with a fresh timestamp
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        signing.verify(SECRET, moved, BODY, now=T)


def test_several_v1_values_let_a_receiver_rotate_secrets() -> None:
    header = signing.sign("old", T, BODY) + ",v1=" + signing.digest(SECRET, T, BODY)
    assert signing.verify(SECRET, header, BODY, now=T) == T


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=00", "t=123"])
def test_a_malformed_header_is_rejected_with_its_expected_shape(header: str) -> None:
    with pytest.raises(InvalidSignature, match="t=<unix seconds>,v1=<hex>"):
        signing.verify(SECRET, header, BODY, now=T)
