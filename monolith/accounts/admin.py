"""Admin for merchants, API keys, end users and KYC; staff review KYC with admin actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monolith.accounts import services
from monolith.accounts.models import KYC_PENDING, ApiKey, KycSubmission, Merchant, User
from monolith.common.errors import ApiError


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "email"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["key_hash", "prefix"]
    search_fields = ["prefix"]


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["id", "merchant", "external_ref", "full_name", "kyc_status", "created_at"]
    list_filter = ["kyc_status"]
    search_fields = ["external_ref", "full_name", "email"]


def _review(
    modeladmin: admin.ModelAdmin, request: HttpRequest,
    queryset: QuerySet[KycSubmission], *, verify: bool,
) -> None:
    done = 0
    for submission in queryset.filter(status=KYC_PENDING).order_by("id"):
        try:
            services.review_kyc(
                submission.pk, request.user, verify=verify,
                reason="" if verify else f"Rejected in admin by {request.user}",
            )
            done += 1
        except ApiError as exc:  # reviewed concurrently by someone else
            modeladmin.message_user(request, exc.message, messages.WARNING)
    skipped = queryset.count() - done
    verb = "verified" if verify else "rejected"
    modeladmin.message_user(request, f"{done} submission(s) {verb}; {skipped} not pending.")


@admin.register(KycSubmission)
class KycSubmissionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "document_type", "status", "submitted_at", "reviewed_at"]
    list_filter = ["status", "document_type"]
    readonly_fields = ["reviewed_by", "reviewed_at", "submitted_at"]
    actions = ["verify_selected", "reject_selected"]

    @admin.action(description="Verify selected pending KYC submissions")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[KycSubmission]) -> None:
        _review(self, request, queryset, verify=True)

    @admin.action(description="Reject selected pending KYC submissions")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[KycSubmission]) -> None:
        _review(self, request, queryset, verify=False)
