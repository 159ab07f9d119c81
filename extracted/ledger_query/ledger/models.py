"""The ledger read model: wallets, double-entry transactions and entries, and what auth needs.

Written only by the event projector (``extracted.ledger_query.projector``, raw SQL in
the consumer's inbox transaction); Django reads these tables for the HTTP views.
Table and column names match ``reconcile/mappings/ledger.toml`` (``ledger_transaction``,
``ledger_entry``). Managers are declared because the type checker's settings
are the monolith's, where this app is not installed. Money is ``numeric(18, 2)`` in
the currency's major unit, signed from the wallet's point of view; kinds and statuses
are words, never legacy codes.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models.functions import Now


class LedgerWallet(models.Model):
    objects: ClassVar[models.Manager[LedgerWallet]] = models.Manager()
    wallet_id = models.BigIntegerField(primary_key=True)
    merchant_id = models.BigIntegerField()
    customer_id = models.BigIntegerField(db_index=True)
    currency = models.CharField(max_length=3)
    status = models.TextField()  # active | frozen | closed
    limits_locked = models.BooleanField()  # until the customer's KYC is verified
    balance = models.DecimalField(max_digits=18, decimal_places=2)
    # the newest transaction folded into balance: older ones arriving late (backfill) leave it alone
    last_transaction_id = models.BigIntegerField(null=True)
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_wallet"


class LedgerTransaction(models.Model):
    objects: ClassVar[models.Manager[LedgerTransaction]] = models.Manager()
    id = models.BigIntegerField(primary_key=True)  # the movement's id as the API shows it
    wallet_id = models.BigIntegerField()
    kind = models.TextField()  # credit, debit, transfer_in, transfer_out, payout, payout_reversal
    amount = models.DecimalField(max_digits=18, decimal_places=2)  # + into the wallet, - out of it
    currency = models.CharField(max_length=3)
    status = models.TextField()  # posted
    reference = models.TextField(null=True)
    description = models.TextField(null=True)
    counterparty_wallet_id = models.BigIntegerField(null=True)
    balance_after = models.DecimalField(max_digits=18, decimal_places=2)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_transaction"
        indexes = [models.Index(fields=["wallet_id", "-id"], name="ledger_txn_wallet_id_desc")]


class LedgerEntry(models.Model):
    objects: ClassVar[models.Manager[LedgerEntry]] = models.Manager()
    transaction_id = models.BigIntegerField()
    leg = models.TextField()  # wallet | contra
    account = models.TextField()  # wallet:<wallet id> | contra:<kind>
    amount = models.DecimalField(max_digits=18, decimal_places=2)  # the two legs sum to zero
    currency = models.CharField(max_length=3)
    # when the entry was written here (every writer leaves it to the default): reconciliation's
    # lag window for an entry the legacy tables have not mirrored yet, once the ledger writes
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "ledger_entry"
        constraints = [models.UniqueConstraint(fields=["transaction_id", "leg"], name="ledger_entry_leg")]
        indexes = [models.Index(fields=["account"], name="ledger_entry_account")]


class LedgerCustomer(models.Model):
    objects: ClassVar[models.Manager[LedgerCustomer]] = models.Manager()
    customer_id = models.BigIntegerField(primary_key=True)
    kyc_verified_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "ledger_customer"


class LedgerMerchant(models.Model):
    objects: ClassVar[models.Manager[LedgerMerchant]] = models.Manager()
    merchant_id = models.BigIntegerField(primary_key=True)
    active = models.BooleanField()
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "ledger_merchant"


class LedgerApiKey(models.Model):
    objects: ClassVar[models.Manager[LedgerApiKey]] = models.Manager()
    key_id = models.BigIntegerField(primary_key=True)
    merchant_id = models.BigIntegerField()
    key_hash = models.CharField(max_length=64, unique=True)  # SHA-256 hex; raw keys are never stored
    issued_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "ledger_api_key"


class LedgerSyncState(models.Model):
    """One row: how fresh the ledger is (see ``extracted.ledger_query.sync``)."""

    objects: ClassVar[models.Manager[LedgerSyncState]] = models.Manager()
    id = models.SmallIntegerField(primary_key=True, default=1)
    newest_event_at = models.DateTimeField(null=True)  # commit time of the newest applied event
    caught_up_at = models.DateTimeField(null=True)  # last time the consumer found nothing pending

    class Meta:
        db_table = "ledger_sync_state"
