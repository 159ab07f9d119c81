"""Wallet ledger services: create wallets, credit, debit, transfer — the money core.

Legacy and correct: the wallet row is locked (``SELECT ... FOR UPDATE``; transfers
lock both in id order so two opposite transfers cannot deadlock), the rule checks
run on the locked row, and ``Wallet.balance`` is updated in the same transaction
as the ``Transaction`` row. The rule checks themselves (:func:`refuse_credit`,
:func:`refuse_debit`) are pure functions of a :class:`WalletState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from monolith.accounts.models import KYC_VERIFIED, Merchant
from monolith.common.errors import ApiError, not_found
from monolith.common.money import format_paise
from monolith.hooks.delivery import fire_on_commit
from monolith.hooks.notify import email_on_commit
from monolith.wallets.models import (
    INBOUND_TYPES,
    TXN_CREDIT,
    TXN_DEBIT,
    TXN_TRANSFER_IN,
    TXN_TRANSFER_OUT,
    WALLET_ACTIVE,
    Transaction,
    Wallet,
)


@dataclass(frozen=True)
class WalletState:
    wallet_id: int
    status: int
    limits_locked: bool
    balance: int


@dataclass(frozen=True)
class Refusal:
    error_code: str
    message: str
    status: int

    def error(self) -> ApiError:
        return ApiError(self.error_code, self.message, self.status)


def state_of(wallet: Wallet) -> WalletState:
    return WalletState(wallet.pk, wallet.status, wallet.limits_locked, wallet.balance)


def _refuse_status(state: WalletState) -> Refusal | None:
    if state.status != WALLET_ACTIVE:
        return Refusal("WALLET_FROZEN", f"Wallet {state.wallet_id} is frozen or closed.", 409)
    return None


def refuse_credit(state: WalletState, amount: int, locked_limit: int) -> Refusal | None:
    """Why a credit of ``amount`` paise must not happen, or ``None`` if it may."""
    refusal = _refuse_status(state)
    if refusal:
        return refusal
    if state.limits_locked and state.balance + amount > locked_limit:
        return Refusal(
            "LIMIT_EXCEEDED",
            f"Wallet {state.wallet_id} is limited to {format_paise(locked_limit)} until its "
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
            f"Wallet {state.wallet_id} is locked for debits until its user's KYC is verified.",
            409,
        )
    if amount > state.balance:
        return Refusal(
            "INSUFFICIENT_FUNDS",
            f"Wallet {state.wallet_id} has {format_paise(state.balance)}, less than "
            f"{format_paise(amount)}.", 409,
        )
    return None


def locked_limit() -> int:
    return int(settings.PAYSTREAM_MIN_KYC_BALANCE_LIMIT)


def wallet_of(merchant: Merchant, wallet_id: int, *, lock: bool = False) -> Wallet:
    """The merchant's wallet (locked FOR UPDATE if asked); another merchant's is a 404."""
    wallets = Wallet.objects.filter(merchant=merchant, pk=wallet_id)
    if lock:
        wallets = wallets.select_for_update()
    wallet = wallets.first()
    if wallet is None:
        raise not_found(f"Wallet {wallet_id}")
    return wallet


def post(
    wallet: Wallet, txn_type: int, amount: int, *, reference: str = "",
    description: str = "", related_wallet: Wallet | None = None,
) -> Transaction:
    """Write one ledger row and move the denormalised balance. ``wallet`` must be locked."""
    wallet.balance += amount if txn_type in INBOUND_TYPES else -amount
    wallet.save(update_fields=["balance", "updated_at"])
    return Transaction.objects.create(
        wallet=wallet, txn_type=txn_type, amount=amount, balance_after=wallet.balance,
        reference=reference, description=description, related_wallet=related_wallet,
    )


def create_wallet(merchant: Merchant, user_id: int, currency: str = "INR") -> Wallet:
    from monolith.accounts.services import user_of

    with transaction.atomic():
        user = user_of(merchant, user_id)
        return Wallet.objects.create(
            merchant=merchant, user=user, currency=currency,
            limits_locked=user.kyc_status != KYC_VERIFIED,
        )


def _announce(wallet: Wallet, event: str, data: dict[str, Any], subject: str, body: str) -> None:
    fire_on_commit(wallet.merchant_id, event, data)
    email_on_commit(wallet.user_id, event, subject, body)


def announce_credit(wallet: Wallet, txn: Transaction) -> None:
    """The webhook and e-mail a credit causes (also for one the ledger made: ``ledger_sync``)."""
    from monolith.wallets.serializers import TransactionSerializer

    _announce(wallet, "wallet.credited", dict(TransactionSerializer(txn).data), "Money added to your wallet",
              f"{wallet.currency} {format_paise(txn.amount)} was credited to wallet {wallet.pk}.")


def announce_debit(wallet: Wallet, txn: Transaction) -> None:
    from monolith.wallets.serializers import TransactionSerializer

    _announce(wallet, "wallet.debited", dict(TransactionSerializer(txn).data), "Money taken from your wallet",
              f"{wallet.currency} {format_paise(txn.amount)} was debited from wallet {wallet.pk}.")


def announce_transfer(source: Wallet, target: Wallet, out: Transaction, into: Transaction) -> None:
    from monolith.wallets.serializers import TransactionSerializer

    data = {"debit": TransactionSerializer(out).data, "credit": TransactionSerializer(into).data}
    fire_on_commit(source.merchant_id, "transfer.completed", data)
    email_on_commit(source.user_id, "transfer.completed", "Transfer sent",
                    f"{source.currency} {format_paise(out.amount)} sent to wallet {target.pk}.")


def credit(
    merchant: Merchant, wallet_id: int, amount: int, *, reference: str = "",
    description: str = "",
) -> Transaction:

    with transaction.atomic():
        wallet = wallet_of(merchant, wallet_id, lock=True)
        refusal = refuse_credit(state_of(wallet), amount, locked_limit())
        if refusal:
            raise refusal.error()
        txn = post(wallet, TXN_CREDIT, amount, reference=reference, description=description)
        announce_credit(wallet, txn)
        return txn


def debit(
    merchant: Merchant, wallet_id: int, amount: int, *, reference: str = "",
    description: str = "",
) -> Transaction:

    with transaction.atomic():
        wallet = wallet_of(merchant, wallet_id, lock=True)
        refusal = refuse_debit(state_of(wallet), amount)
        if refusal:
            raise refusal.error()
        txn = post(wallet, TXN_DEBIT, amount, reference=reference, description=description)
        announce_debit(wallet, txn)
        return txn


def transfer(
    merchant: Merchant, from_wallet_id: int, to_wallet_id: int, amount: int, *,
    reference: str = "",
) -> tuple[Transaction, Transaction]:
    """Move money between two wallets of one merchant; returns (debit, credit) rows."""

    if from_wallet_id == to_wallet_id:
        raise ApiError("SAME_WALLET", "from_wallet_id and to_wallet_id must differ.", 400)
    with transaction.atomic():
        # Lock in id order: two opposite transfers then queue instead of deadlocking.
        locked = {
            wallet_id: wallet_of(merchant, wallet_id, lock=True)
            for wallet_id in sorted((from_wallet_id, to_wallet_id))
        }
        source, target = locked[from_wallet_id], locked[to_wallet_id]
        if source.currency != target.currency:
            raise ApiError(
                "CURRENCY_MISMATCH",
                f"Wallet {source.pk} holds {source.currency} but wallet {target.pk} holds "
                f"{target.currency}; transfers need one currency.", 409,
            )
        refusal = refuse_debit(state_of(source), amount) or refuse_credit(
            state_of(target), amount, locked_limit()
        )
        if refusal:
            raise refusal.error()
        out = post(source, TXN_TRANSFER_OUT, amount, reference=reference,
                   description=f"Transfer to wallet {target.pk}", related_wallet=target)
        into = post(target, TXN_TRANSFER_IN, amount, reference=reference,
                    description=f"Transfer from wallet {source.pk}", related_wallet=source)
        announce_transfer(source, target, out, into)
        return out, into
