"""Admin for wallets, ledger transactions and idempotency records (ledger rows are read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from monolith.wallets.models import IdempotencyRecord, Transaction, Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "user", "currency", "balance", "status", "limits_locked"]
    list_filter = ["status", "limits_locked", "currency"]
    # The balance only moves with a Transaction row, never by hand.
    readonly_fields = ["balance"]


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["id", "wallet", "txn_type", "amount", "balance_after", "reference",
                    "created_at"]
    list_filter = ["txn_type"]
    search_fields = ["reference"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "key", "response_status", "created_at"]
    search_fields = ["key"]
    readonly_fields = ["request_hash", "response_status", "response_body"]
