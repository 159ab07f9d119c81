"""The legacy wire shapes of balances and ledger transactions, rendered from the ledger's rows.

This is the one place legacy integer codes exist in this service: the v1 API shows
``txn_type``/``status`` as integers plus ``_display`` names, and amounts as
two-decimal strings of integer paise. Field order is the contract.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from django.utils import timezone

from extracted.ledger_query.domain import minor_units
from extracted.ledger_query.ledger.models import LedgerTransaction, LedgerWallet
from monolith.common.money import format_paise

# kind -> (legacy txn_type code, display); must match monolith/wallets/models.py (a test checks).
LEGACY_TXN_TYPE = {
    "credit": (1, "CREDIT"),
    "debit": (2, "DEBIT"),
    "transfer_in": (3, "TRANSFER_IN"),
    "transfer_out": (4, "TRANSFER_OUT"),
    "payout": (5, "PAYOUT"),
    "payout_reversal": (6, "PAYOUT_REVERSAL"),
}
LEGACY_TXN_STATUS = {"posted": (1, "POSTED")}
# Test-only: tests/e2e/test_shadow_planted_bugs.py sets this to prove the shadow diff finds one wrong field.
_PLANTED_BUG = "ledger_query.txn_type_display" in os.environ.get("STRANGLER_PLANTED_BUG", "").split(",")


def legacy_time(value: datetime) -> str:
    """IST with offset and always six microsecond digits, as the monolith's LegacyDateTimeField."""
    return timezone.localtime(value).isoformat(timespec="microseconds")


def legacy_amount(amount: Any, currency: str) -> str:
    """The monolith shows integer minor units / 100 with two decimals, whatever the currency."""
    return format_paise(minor_units(amount, currency))


def balance(wallet: LedgerWallet) -> dict[str, Any]:
    return {
        "wallet_id": wallet.wallet_id,
        "currency": wallet.currency,
        "balance": legacy_amount(wallet.balance, wallet.currency),
        "updated_at": legacy_time(wallet.updated_at),
    }


def transaction(txn: LedgerTransaction) -> dict[str, Any]:
    txn_type, txn_type_display = LEGACY_TXN_TYPE[txn.kind]
    if _PLANTED_BUG:
        txn_type_display = txn_type_display.lower()
    status, status_display = LEGACY_TXN_STATUS[txn.status]
    return {
        "id": txn.id,
        "wallet_id": txn.wallet_id,
        "txn_type": txn_type,
        "txn_type_display": txn_type_display,
        "amount": legacy_amount(abs(txn.amount), txn.currency),
        "balance_after": legacy_amount(txn.balance_after, txn.currency),
        "status": status,
        "status_display": status_display,
        "reference": txn.reference or "",  # events carry null for the legacy empty string
        "description": txn.description or "",
        "related_wallet_id": txn.counterparty_wallet_id,
        "created_at": legacy_time(txn.created_at),
    }
