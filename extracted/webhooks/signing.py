"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, verifiable with a replay window.

Header (see README.md): ``PayStream-Signature: t=<unix seconds>,v1=<hex digest>``. The
timestamp is inside the signed bytes, so a receiver that rejects timestamps older than
its tolerance rejects replays of captured requests. Pure: the clock is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac

from extracted.webhooks.errors import InvalidSignature

SIGNATURE_HEADER = "PayStream-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """``t=…,v1=…[,v1=…]`` -> (timestamp, v1 digests); several v1 allow secret rotation."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise InvalidSignature(
            f"{SIGNATURE_HEADER} {header[:80]!r} is not 't=<unix seconds>,v1=<hex>'; reject the request."
        )
    return timestamp, digests


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> int:
    """Receiver side: raise ``InvalidSignature`` unless ``header`` signs ``body`` within the window.

    Returns the signed timestamp. ``body`` must be the raw bytes received, before any JSON parsing.
    """
    timestamp, digests = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(
            f"signature timestamp {timestamp} is {abs(now - timestamp):.0f}s from now, outside the "
            f"{tolerance}s window: a replay or a skewed clock. Reject it; check your clock (NTP)."
        )
    expected = digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, d) for d in digests):
        raise InvalidSignature("no v1 signature matches the body under this secret; reject the request.")
    return timestamp
