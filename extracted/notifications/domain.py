"""The decisions of notification dispatch, pure: which events notify whom about what, on
which channels (preferences), to which address, and the retry schedule.

No I/O and no Django. The notification kinds and their texts mirror the monolith's inline
e-mails (``monolith/hooks/notify.py`` callers) so shadow mode can compare them one to one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from extracted.notifications.errors import UnsupportedEvent

_COMMON = frozenset({"customer_id", "full_name"})
# notification kind -> the placeholders its templates may use
FIELDS: dict[str, frozenset[str]] = {
    "wallet.credited": _COMMON | {"wallet_id", "amount", "currency"},
    "wallet.debited": _COMMON | {"wallet_id", "amount", "currency"},
    "transfer.completed": _COMMON | {"wallet_id", "amount", "currency", "counterparty_wallet_id"},
    "payout.created": _COMMON | {"wallet_id", "payout_id", "amount", "currency"},
    "payout.paid": _COMMON | {"wallet_id", "payout_id", "amount", "currency", "status"},
    "payout.failed": _COMMON | {"wallet_id", "payout_id", "amount", "currency", "status", "failure_reason"},
    "kyc.verified": _COMMON | {"document_type"},
    "kyc.rejected": _COMMON | {"document_type", "reason"},
}
CHANNELS = ("email", "sms", "push")
# a user the service has no preference for: what the monolith did (e-mail only)
DEFAULT_OPT_IN = {"email": True, "sms": False, "push": False}
ALL_KINDS = "*"


def event_name(event_type: str) -> str:
    """``paystream.wallet.credited.v1`` -> ``wallet.credited``; only v1 is understood."""
    parts = event_type.split(".")
    if len(parts) != 4 or parts[0] != "paystream" or not parts[3].startswith("v"):
        raise UnsupportedEvent(event_type, "not a paystream.<aggregate>.<event>.v<n> type")
    if parts[3] != "v1":
        raise UnsupportedEvent(event_type, f"version {parts[3]} is unknown to this service (it reads v1)")
    return f"{parts[1]}.{parts[2]}"


@dataclass(frozen=True)
class Occurrence:
    """Something worth telling a customer, as far as the event alone says.

    Who the customer is comes from ``customer_id`` or, failing that, the wallet's owner; a
    payout's status event does not carry the amount: the payout's requested event did.
    """

    kind: str
    fields: dict[str, str]
    customer_id: int | None = None
    wallet_id: int | None = None
    payout_id: int | None = None  # set when the payout's amount must be looked up


def _money(data: Mapping[str, Any]) -> dict[str, str]:
    return {"amount": str(data["amount"]["amount"]), "currency": str(data["amount"]["currency"])}


def occurrence(name: str, data: Mapping[str, Any]) -> Occurrence | None:
    """The occurrence an event (already contract-checked) stands for; None: nothing to tell."""
    try:
        if name in ("wallet.credited", "wallet.debited"):
            wallet = int(data["wallet_id"])
            base = {"wallet_id": str(wallet), **_money(data)}
            kind = {"credit": "wallet.credited", "debit": "wallet.debited",
                    "transfer_out": "transfer.completed"}.get(str(data["kind"]))
            if kind is None:  # transfer in, payout debit and its reversal: the monolith tells nobody
                return None
            if kind == "transfer.completed":
                base["counterparty_wallet_id"] = str(data["counterparty_wallet_id"])
            return Occurrence(kind, base, wallet_id=wallet)
        if name == "payout.requested":
            wallet = int(data["wallet_id"])
            fields = {"wallet_id": str(wallet), "payout_id": str(data["payout_id"]), **_money(data)}
            return Occurrence("payout.created", fields, wallet_id=wallet)
        if name == "payout.status_changed" and data["status"] in ("paid", "failed"):
            status = str(data["status"])
            fields = {"wallet_id": str(data["wallet_id"]), "payout_id": str(data["payout_id"]),
                      "status": status.upper(), "failure_reason": str(data.get("failure_reason") or "")}
            return Occurrence(f"payout.{status}", fields, wallet_id=int(data["wallet_id"]),
                              payout_id=int(data["payout_id"]))
        if name in ("kyc.verified", "kyc.rejected"):
            fields = {"document_type": str(data["document_type"])}
            if name == "kyc.rejected":
                fields["reason"] = str(data.get("reason") or "")
            return Occurrence(name, fields, customer_id=int(data["customer_id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedEvent(name, f"data lacks what the contract promised ({exc!r})") from None
    return None


# ---- who, and on which channels -------------------------------------------------------------
@dataclass(frozen=True)
class Contact:
    customer_id: int
    email: str | None
    phone: str | None
    full_name: str = ""
    locale: str | None = None


@dataclass(frozen=True)
class Preference:
    """One opt-in or opt-out: ``kind`` is a notification kind or ``*`` for every kind."""

    kind: str
    channel: str
    enabled: bool


def parse_preference(kind: str, channel: str, enabled: bool) -> Preference:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    if kind != ALL_KINDS and kind not in FIELDS:
        raise ValueError(f"unknown notification kind {kind!r}; use {ALL_KINDS!r} or one of "
                         f"{', '.join(sorted(FIELDS))}")
    return Preference(kind, channel, enabled)


def opted_in(kind: str, preferences: Iterable[Preference]) -> list[str]:
    """The channels ``kind`` goes out on: a kind's own rule beats ``*``, which beats the default."""
    chosen = dict(DEFAULT_OPT_IN)
    rules = list(preferences)
    for specific in (False, True):
        for rule in rules:
            if (rule.kind == kind) == specific and rule.kind in (kind, ALL_KINDS):
                chosen[rule.channel] = rule.enabled
    return [channel for channel in CHANNELS if chosen[channel]]


def address(channel: str, contact: Contact) -> str | None:
    """Where ``channel`` reaches the customer; None: it cannot (recorded as skipped)."""
    if channel == "email":
        return contact.email or None
    if channel == "sms":
        return contact.phone or None
    return f"customer:{contact.customer_id}"  # push: the device registry resolves the customer


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str  # '' when the channel cannot reach the customer
    skipped: bool = False


def recipients(kind: str, contact: Contact, preferences: Iterable[Preference]) -> list[Recipient]:
    found = []
    for channel in opted_in(kind, preferences):
        where = address(channel, contact)
        found.append(Recipient(channel, where or "", skipped=where is None))
    return found


# ---- retries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base: float = 30.0  # seconds before the second attempt; doubles each time
    cap: float = 3600.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next attempt after ``attempts`` failed ones; None: give up."""
        if attempts >= self.max_attempts:
            return None
        backoff = min(self.cap, self.base * 2 ** (attempts - 1))
        return backoff * (0.5 + self.jitter() / 2)  # "equal jitter": spreads retries, keeps a floor
