"""Pure rules of the ledger write path: may a movement happen, what it posts, what it announces.

Standard library only. The refusals restate ``monolith.wallets.services.refuse_credit`` /
``refuse_debit`` word for word (the monolith's module imports its Django models, which
this service does not install); ``tests/extracted/ledger_query/test_write_rules.py`` runs
both on the same states. Amounts here are integer minor units as the legacy API counts
them (paise); the ledger's tables hold major units (``to_major``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from extracted.ledger_query.domain import INBOUND_KINDS, MINOR_UNITS

# The monolith's wallet codes are words here (domain.WALLET_STATUSES).
ACTIVE = "active"
# Kinds the write path may post; the first three are the public endpoints', the payout
# kinds the monolith's ledger port's (monolith.wallets.ledger_port).
KINDS = frozenset({"credit", "debit", "transfer_in", "transfer_out", "payout", "payout_reversal"})


@dataclass(frozen=True)
class WalletState:
    wallet_id: int
    merchant_id: int
    currency: str
    status: str  # active | frozen | closed
    limits_locked: bool
    balance: int  # minor units


@dataclass(frozen=True)
class Refusal:
    error_code: str
    message: str
    status: int


def _format(minor: int) -> str:
    # monolith.common.money.format_paise, restated to keep this module standard-library only
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 100)
    return f"{sign}{whole}.{fraction:02d}"


def _refuse_status(state: WalletState) -> Refusal | None:
    if state.status != ACTIVE:
        return Refusal("WALLET_FROZEN", f"Wallet {state.wallet_id} is frozen or closed.", 409)
    return None


def refuse_credit(state: WalletState, amount: int, locked_limit: int) -> Refusal | None:
    """Why a credit of ``amount`` must not happen, or ``None`` if it may."""
    refusal = _refuse_status(state)
    if refusal:
        return refusal
    if state.limits_locked and state.balance + amount > locked_limit:
        return Refusal(
            "LIMIT_EXCEEDED",
            f"Wallet {state.wallet_id} is limited to {_format(locked_limit)} until its "
            "user's KYC is verified.", 409,
        )
    return None


def refuse_debit(state: WalletState, amount: int) -> Refusal | None:
    """Why a debit (or transfer out, or payout) of ``amount`` must not happen, or ``None``."""
    refusal = _refuse_status(state)
    if refusal:
        return refusal
    if state.limits_locked:
        return Refusal(
            "WALLET_LOCKED",
            f"Wallet {state.wallet_id} is locked for debits until its user's KYC is verified.", 409,
        )
    if amount > state.balance:
        return Refusal(
            "INSUFFICIENT_FUNDS",
            f"Wallet {state.wallet_id} has {_format(state.balance)}, less than {_format(amount)}.", 409,
        )
    return None


def same_wallet() -> Refusal:
    return Refusal("SAME_WALLET", "from_wallet_id and to_wallet_id must differ.", 400)


def currency_mismatch(source: WalletState, target: WalletState) -> Refusal | None:
    if source.currency == target.currency:
        return None
    return Refusal(
        "CURRENCY_MISMATCH",
        f"Wallet {source.wallet_id} holds {source.currency} but wallet {target.wallet_id} holds "
        f"{target.currency}; transfers need one currency.", 409,
    )


@dataclass(frozen=True)
class Posting:
    """One movement on one wallet, decided on its locked state."""

    wallet_id: int
    kind: str
    amount: int  # minor units, positive; the direction comes from the kind
    currency: str
    balance_after: int  # minor units
    reference: str | None
    description: str | None
    counterparty_wallet_id: int | None = None

    @property
    def inbound(self) -> bool:
        return self.kind in INBOUND_KINDS


def post(state: WalletState, kind: str, amount: int, *, reference: str = "", description: str = "",
         counterparty: WalletState | None = None) -> Posting:
    """The posting of ``amount`` on ``state``'s wallet (the refusals have been asked already)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}")
    signed = amount if kind in INBOUND_KINDS else -amount
    return Posting(state.wallet_id, kind, amount, state.currency, state.balance + signed,
                   reference or None, description or None,
                   None if counterparty is None else counterparty.wallet_id)


def after(state: WalletState, posting: Posting) -> WalletState:
    """The wallet's state once ``posting`` is applied."""
    return WalletState(state.wallet_id, state.merchant_id, state.currency, state.status,
                       state.limits_locked, posting.balance_after)


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units -> the ledger's exact major-unit amount (as ``acl.domain.money``)."""
    exponent = MINOR_UNITS[currency]
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def utc_iso(at: datetime) -> str:
    """An aware time as the anti-corruption layer writes event times: ISO-8601 UTC with ``Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_of(posting: Posting, transaction_id: int, posted_at: datetime,
             wallet_updated_at: datetime) -> tuple[str, dict[str, Any]]:
    """The domain event announcing ``posting``: the contract the monolith's postings publish."""
    def money(minor: int) -> dict[str, str]:
        return {"amount": str(to_major(minor, posting.currency)), "currency": posting.currency}

    counterparty = posting.counterparty_wallet_id
    data: dict[str, Any] = {
        "wallet_id": str(posting.wallet_id),
        "entry_id": str(transaction_id),
        "kind": posting.kind,
        "amount": money(posting.amount),
        "balance_after": money(posting.balance_after),
        "reference": posting.reference,
        "description": posting.description,
        "counterparty_wallet_id": None if counterparty is None else str(counterparty),
        "posted_at": utc_iso(posted_at),
        "wallet_updated_at": utc_iso(wallet_updated_at),
    }
    direction = "credited" if posting.inbound else "debited"
    return f"paystream.wallet.{direction}.v1", data
