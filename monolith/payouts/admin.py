"""Admin for bank accounts and payouts (payout state changes only through settlement)."""

from __future__ import annotations

from django.contrib import admin

from monolith.payouts.models import BankAccount, Payout


@admin.register(BankAccount)
class BankAccountAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "user", "ifsc", "holder_name", "created_at"]
    search_fields = ["holder_name", "ifsc"]


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "wallet", "amount", "status", "provider_ref", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["status", "amount", "debit_transaction", "provider_ref", "failure_reason",
                       "idempotency_key"]
