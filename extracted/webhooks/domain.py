"""The decisions of webhook delivery, pure: which events are deliverable and to whom, the
payload, the retry schedule, and what an attempt's outcome means.

No I/O and no Django: adapters (``consume``, ``tasks``) call these with plain values.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from extracted.webhooks.errors import UnsupportedEvent

# webhook event name (what merchants subscribe to) <- domain event type without prefix/version
DELIVERABLE = frozenset({
    "wallet.opened", "wallet.credited", "wallet.debited", "wallet.status_changed",
    "payout.requested", "payout.status_changed",
    "customer.registered", "customer.updated",
    "kyc.submitted", "kyc.verified", "kyc.rejected",
})
WILDCARD = "*"


def webhook_event_name(event_type: str) -> str:
    """``paystream.wallet.credited.v1`` -> ``wallet.credited``."""
    parts = event_type.split(".")
    if len(parts) != 4 or parts[0] != "paystream" or not parts[3].startswith("v"):
        raise UnsupportedEvent(event_type, "not a paystream.<aggregate>.<event>.v<n> type")
    return f"{parts[1]}.{parts[2]}"


def validate_subscriptions(names: Iterable[str]) -> list[str]:
    """The subscribed names, deduplicated in order; ``ValueError`` names the unknown ones."""
    wanted = list(dict.fromkeys(n.strip() for n in names))
    unknown = [n for n in wanted if n != WILDCARD and n not in DELIVERABLE]
    if not wanted or unknown:
        raise ValueError(f"unknown event names {unknown or '(none given)'}; subscribe to "
                         f"{WILDCARD!r} or some of: {', '.join(sorted(DELIVERABLE))}")
    return [WILDCARD] if WILDCARD in wanted else wanted


def subscribed(subscriptions: Iterable[str], name: str) -> bool:
    subs = set(subscriptions)
    return WILDCARD in subs or name in subs


# ---- who owns an event ------------------------------------------------------------------
@dataclass(frozen=True)
class Owner:
    """How to find the merchant an event belongs to: directly, or through a wallet/customer."""

    merchant_id: int | None = None
    wallet_id: int | None = None
    customer_id: int | None = None


def owner_of(name: str, data: dict[str, Any]) -> Owner:
    if "merchant_id" in data:  # wallet.opened, payout.requested, customer.registered
        return Owner(merchant_id=int(data["merchant_id"]))
    if "wallet_id" in data:
        return Owner(wallet_id=int(data["wallet_id"]))
    if "customer_id" in data:
        return Owner(customer_id=int(data["customer_id"]))
    raise UnsupportedEvent(name, "carries no merchant, wallet or customer id")


def payload(event_id: str, name: str, occurred_at: datetime | None, data: dict[str, Any]) -> str:
    """The JSON body receivers get; stored once so every retry signs the same bytes."""
    created = occurred_at.isoformat().replace("+00:00", "Z") if occurred_at else None
    return json.dumps({"id": event_id, "type": name, "created_at": created, "data": data},
                      separators=(",", ":"), sort_keys=True)


# ---- retry schedule ---------------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits in [d/2, d], d = min(cap, base·2^(n-1))."""

    base: float
    cap: float

    def ceiling(self, attempts_made: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempts_made - 1)))

    def delay(self, attempts_made: int, rng: Callable[[], float] = random.random) -> float:
        d = self.ceiling(attempts_made)
        return d / 2 + rng() * d / 2


# ---- outcome of one attempt -------------------------------------------------------------
@dataclass(frozen=True)
class AttemptResult:
    response_code: int | None
    error: str  # empty when the receiver answered 2xx
    permanent: bool = False  # retrying cannot help (SSRF refusal)


@dataclass(frozen=True)
class Decision:
    status: str  # delivered | retrying | dead_lettered
    retry_in: float | None = None


DELIVERED, RETRYING, DEAD_LETTERED, PENDING, SENDING = (
    "delivered", "retrying", "dead_lettered", "pending", "sending")
# while the monolith's inline path is strangled (cutover.py): its path delivered the occurrence
# (legacy), or this service only recorded what it would have sent (shadowed). Both are final.
LEGACY, SHADOWED = "legacy", "shadowed"
STATUSES = (PENDING, SENDING, RETRYING, DELIVERED, DEAD_LETTERED, LEGACY, SHADOWED)


def succeeded(code: int | None) -> bool:
    return code is not None and 200 <= code < 300


def decide(result: AttemptResult, attempts_made: int, max_attempts: int, backoff: Backoff,
           rng: Callable[[], float] = random.random) -> Decision:
    """After attempt number ``attempts_made``: delivered, retry later, or dead-letter."""
    if succeeded(result.response_code) and not result.error:
        return Decision(DELIVERED)
    if result.permanent or attempts_made >= max_attempts:
        return Decision(DEAD_LETTERED)
    return Decision(RETRYING, backoff.delay(attempts_made, rng))


def describe_failure(code: int | None, error: str) -> str:
    if error:
        return error
    if code is not None and 300 <= code < 400:
        return f"HTTP {code}: redirects are not followed; point the endpoint at the final URL"
    return f"HTTP {code}"
