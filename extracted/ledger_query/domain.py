"""Pure ledger logic: a domain event in, the ledger effects it implies out. Standard library only.

The ledger is double-entry: every money movement is one transaction with two
legs, the wallet's account and a contra account named for the kind of movement
(``contra:credit``, ``contra:payout``...), whose amounts sum to zero. Amounts are
exact ``Decimal`` in the currency's major unit, signed from the wallet's point of
view (+ into the wallet, - out of it). No legacy codes or column names here.

Events the ledger does not need (customers registering, payouts' own lifecycle)
map to no effect; an event type this module has never heard of, including a new
version of a known one, raises :class:`UnsupportedEvent` so it is dead-lettered
rather than half-understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from extracted.ledger_query.errors import UnsupportedEvent

# Digits after the point per currency, as the ACL renders money (acl.domain.money).
MINOR_UNITS = {"INR": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
INBOUND_KINDS = frozenset({"credit", "transfer_in", "payout_reversal"})
OUTBOUND_KINDS = frozenset({"debit", "transfer_out", "payout"})
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
WALLET_STATUSES = frozenset({"active", "frozen", "closed"})


@dataclass(frozen=True)
class Leg:
    leg: str  # "wallet" | "contra"
    account: str  # "wallet:<id>" | "contra:<kind>"
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class OpenWallet:
    wallet_id: int
    merchant_id: int
    customer_id: int
    currency: str
    status: str
    opened_at: datetime


@dataclass(frozen=True)
class PostTransaction:
    transaction_id: int  # the id the legacy API shows for this movement
    wallet_id: int
    kind: str
    amount: Decimal  # signed, wallet's point of view
    currency: str
    balance_after: Decimal
    reference: str | None
    description: str | None
    counterparty_wallet_id: int | None
    posted_at: datetime
    legs: tuple[Leg, Leg]
    # the monolith's wallet.updated_at after this posting, when the event carries it: the
    # legacy balance shows it, and it is not posted_at (the wallet row is saved first)
    wallet_updated_at: datetime | None = None


@dataclass(frozen=True)
class ChangeWalletStatus:
    wallet_id: int
    status: str
    changed_at: datetime


@dataclass(frozen=True)
class VerifyCustomer:
    """KYC verified: the customer's wallets (present and future) lose their limits lock."""

    customer_id: int
    verified_at: datetime


@dataclass(frozen=True)
class IssueApiKey:
    key_id: int
    merchant_id: int
    key_hash: str  # SHA-256 hex of the raw key; the raw key never travels
    issued_at: datetime


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: int
    revoked_at: datetime


@dataclass(frozen=True)
class ChangeMerchantStatus:
    merchant_id: int
    active: bool
    changed_at: datetime


Effect = (
    OpenWallet
    | PostTransaction
    | ChangeWalletStatus
    | VerifyCustomer
    | IssueApiKey
    | RevokeApiKey
    | ChangeMerchantStatus
)

# Known events whose facts the ledger read model does not hold.
IGNORED = frozenset(
    {
        "paystream.customer.registered.v1",
        "paystream.customer.updated.v1",
        "paystream.kyc.submitted.v1",
        "paystream.kyc.rejected.v1",
        "paystream.payout.requested.v1",  # its money movement arrives as wallet.debited (kind payout)
        "paystream.payout.status_changed.v1",
    }
)


def decide(event_type: str, data: dict[str, Any]) -> list[Effect]:
    """The ledger effects of one event, or :class:`UnsupportedEvent` if it cannot be applied."""
    if event_type in IGNORED:
        return []
    build = _DECIDERS.get(event_type)
    if build is None:
        raise UnsupportedEvent(event_type, "unknown event type or version for the ledger")
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise UnsupportedEvent(event_type, f"data not understood ({type(exc).__name__}: {exc})") from exc


def money(value: dict[str, Any]) -> tuple[Decimal, str]:
    """``{"amount": "12.34", "currency": "INR"}`` -> (Decimal("12.34"), "INR"), exactness checked."""
    currency = value["currency"]
    if currency not in MINOR_UNITS:
        raise ValueError(f"unknown currency {currency!r}")
    amount = Decimal(value["amount"])
    if not amount.is_finite() or amount != amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency])):
        raise ValueError(f"{value['amount']!r} has more digits than {currency} allows")
    return amount, currency


def minor_units(amount: Decimal, currency: str) -> int:
    """Exact integer minor units of an amount (INR 12.34 -> 1234)."""
    return int(amount.scaleb(MINOR_UNITS[currency]))


def timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed


def _id(value: Any) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise ValueError(f"{value!r} is not an id")
    return int(value)


def _opened(data: dict[str, Any]) -> list[Effect]:
    if data["status"] not in WALLET_STATUSES:
        raise ValueError(f"unknown wallet status {data['status']!r}")
    if data["currency"] not in MINOR_UNITS:
        raise ValueError(f"unknown currency {data['currency']!r}")
    return [
        OpenWallet(
            _id(data["wallet_id"]),
            _id(data["merchant_id"]),
            _id(data["customer_id"]),
            data["currency"],
            data["status"],
            timestamp(data["opened_at"]),
        )
    ]


def _posted(inbound: bool) -> Any:
    def build(data: dict[str, Any]) -> list[Effect]:
        kind = data["kind"]
        if kind not in (INBOUND_KINDS if inbound else OUTBOUND_KINDS):
            raise ValueError(f"kind {kind!r} does not move money {'in' if inbound else 'out'}")
        amount, currency = money(data["amount"])
        balance_after, balance_currency = money(data["balance_after"])
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        if balance_currency != currency:
            raise ValueError(f"balance in {balance_currency} but amount in {currency}")
        wallet_id = _id(data["wallet_id"])
        signed = amount if inbound else -amount
        counterparty = data["counterparty_wallet_id"]
        legs = (
            Leg("wallet", f"wallet:{wallet_id}", signed, currency),
            Leg("contra", f"contra:{kind}", -signed, currency),
        )
        return [
            PostTransaction(
                _id(data["entry_id"]),
                wallet_id,
                kind,
                signed,
                currency,
                balance_after,
                data["reference"],
                data["description"],
                None if counterparty is None else _id(counterparty),
                timestamp(data["posted_at"]),
                legs,
                None if data.get("wallet_updated_at") is None else timestamp(data["wallet_updated_at"]),
            )
        ]

    return build


def _status_changed(data: dict[str, Any]) -> list[Effect]:
    if data["status"] not in WALLET_STATUSES:
        raise ValueError(f"unknown wallet status {data['status']!r}")
    return [ChangeWalletStatus(_id(data["wallet_id"]), data["status"], timestamp(data["changed_at"]))]


def _kyc_verified(data: dict[str, Any]) -> list[Effect]:
    return [VerifyCustomer(_id(data["customer_id"]), timestamp(data["verified_at"]))]


def _key_issued(data: dict[str, Any]) -> list[Effect]:
    key_hash = data["key_hash"]
    if not (isinstance(key_hash, str) and _SHA256_HEX.match(key_hash)):
        raise ValueError("key_hash must be 64 lower-case hex digits (SHA-256)")
    return [
        IssueApiKey(_id(data["key_id"]), _id(data["merchant_id"]), key_hash, timestamp(data["issued_at"]))
    ]


def _key_revoked(data: dict[str, Any]) -> list[Effect]:
    return [RevokeApiKey(_id(data["key_id"]), timestamp(data["revoked_at"]))]


def _merchant_status(data: dict[str, Any]) -> list[Effect]:
    if not isinstance(data["active"], bool):
        raise ValueError("active must be a boolean")
    return [ChangeMerchantStatus(_id(data["merchant_id"]), data["active"], timestamp(data["changed_at"]))]


_DECIDERS = {
    "paystream.wallet.opened.v1": _opened,
    "paystream.wallet.credited.v1": _posted(inbound=True),
    "paystream.wallet.debited.v1": _posted(inbound=False),
    "paystream.wallet.status_changed.v1": _status_changed,
    "paystream.kyc.verified.v1": _kyc_verified,
    # Merchant and API-key events (acl/contracts/): the service authenticates from these and
    # never reads the monolith's database.
    "paystream.merchant.api_key_issued.v1": _key_issued,
    "paystream.merchant.api_key_revoked.v1": _key_revoked,
    "paystream.merchant.status_changed.v1": _merchant_status,
}
