"""Wallets and ledger transactions.

Legacy traits kept on purpose: amounts are integer paise, types and statuses
are small integer codes, and ``Wallet.balance`` is a denormalised running
balance updated in the same database transaction as the Transaction row.
"""

from __future__ import annotations

from django.db import models

from monolith.accounts.models import Merchant, User

WALLET_ACTIVE, WALLET_FROZEN, WALLET_CLOSED = 1, 2, 3
WALLET_STATUS_CHOICES = [(WALLET_ACTIVE, "ACTIVE"), (WALLET_FROZEN, "FROZEN"), (WALLET_CLOSED, "CLOSED")]

TXN_CREDIT, TXN_DEBIT, TXN_TRANSFER_IN, TXN_TRANSFER_OUT, TXN_PAYOUT, TXN_PAYOUT_REVERSAL = (
    1, 2, 3, 4, 5, 6,
)
TXN_TYPE_CHOICES = [
    (TXN_CREDIT, "CREDIT"),
    (TXN_DEBIT, "DEBIT"),
    (TXN_TRANSFER_IN, "TRANSFER_IN"),
    (TXN_TRANSFER_OUT, "TRANSFER_OUT"),
    (TXN_PAYOUT, "PAYOUT"),
    (TXN_PAYOUT_REVERSAL, "PAYOUT_REVERSAL"),
]
# Types that add to the balance; every other type subtracts.
INBOUND_TYPES = frozenset({TXN_CREDIT, TXN_TRANSFER_IN, TXN_PAYOUT_REVERSAL})

TXN_POSTED = 1
TXN_STATUS_CHOICES = [(TXN_POSTED, "POSTED")]


class Wallet(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="wallets")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="wallets")
    currency = models.CharField(max_length=3, default="INR")
    balance = models.BigIntegerField(default=0)  # paise
    status = models.SmallIntegerField(choices=WALLET_STATUS_CHOICES, default=WALLET_ACTIVE)
    limits_locked = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "wallets_wallet"

    def __str__(self) -> str:
        return f"wallet #{self.pk} ({self.currency})"


class Transaction(models.Model):
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions")
    txn_type = models.SmallIntegerField(choices=TXN_TYPE_CHOICES)
    amount = models.BigIntegerField()  # paise, always positive; direction comes from txn_type
    balance_after = models.BigIntegerField()
    status = models.SmallIntegerField(choices=TXN_STATUS_CHOICES, default=TXN_POSTED)
    reference = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    related_wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "wallets_transaction"
        indexes = [models.Index(fields=["wallet", "-id"], name="txn_wallet_id_desc")]


class IdempotencyRecord(models.Model):
    """A stored response for a merchant's ``Idempotency-Key``; replayed on a retry."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.SmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "wallets_idempotencyrecord"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="uniq_idempotency_key")
        ]
