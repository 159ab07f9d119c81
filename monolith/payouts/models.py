"""Bank accounts and payouts to them, settled by a (fake) bank provider."""

from __future__ import annotations

from django.db import models

from monolith.accounts.models import Merchant, User
from monolith.wallets.models import Wallet

PAYOUT_CREATED, PAYOUT_PROCESSING, PAYOUT_PAID, PAYOUT_FAILED, PAYOUT_REVERSED = 1, 2, 3, 4, 5
PAYOUT_STATUS_CHOICES = [
    (PAYOUT_CREATED, "CREATED"),
    (PAYOUT_PROCESSING, "PROCESSING"),
    (PAYOUT_PAID, "PAID"),
    (PAYOUT_FAILED, "FAILED"),
    (PAYOUT_REVERSED, "REVERSED"),
]


class BankAccount(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="bank_accounts")
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT)
    account_number = models.CharField(max_length=18)
    ifsc = models.CharField(max_length=11)
    holder_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payouts_bankaccount"


class Payout(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payouts")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="payouts")
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT)
    amount = models.BigIntegerField()  # paise
    status = models.SmallIntegerField(choices=PAYOUT_STATUS_CHOICES, default=PAYOUT_CREATED)
    idempotency_key = models.CharField(max_length=255)
    provider_ref = models.CharField(max_length=64, blank=True, default="")
    failure_reason = models.CharField(max_length=255, blank=True, default="")
    debit_transaction = models.ForeignKey(
        "wallets.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "payouts_payout"
