"""Accounts domain services: merchants and keys, end users, KYC submission and review.

Legacy style: services work on ORM rows directly and fire webhooks/emails after
commit. Signals (``signals.py``) keep ``User.kyc_status`` and wallet locks in step
with submissions, so the admin action and the API behave the same.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from monolith.accounts.models import (
    KYC_PENDING,
    KYC_REJECTED,
    KYC_VERIFIED,
    ApiKey,
    KycSubmission,
    Merchant,
    User,
)
from monolith.common.errors import ApiError, not_found, validation_error
from monolith.hooks.delivery import fire_on_commit
from monolith.hooks.notify import email_on_commit


def create_merchant_with_key(
    name: str, email: str, raw_key: str | None = None
) -> tuple[Merchant, str]:
    """Create a merchant and one API key; returns the merchant and the raw key (shown once)."""
    with transaction.atomic():
        merchant = Merchant.objects.create(name=name, email=email)
        _, raw = ApiKey.issue(merchant, raw_key)
    return merchant, raw


def user_of(merchant: Merchant, user_id: int, *, lock: bool = False) -> User:
    users = User.objects.filter(merchant=merchant, pk=user_id)
    if lock:
        users = users.select_for_update()
    user = users.first()
    if user is None:
        raise not_found("User")
    return user


def create_user(
    merchant: Merchant, *, external_ref: str, full_name: str, email: str = "", phone: str = ""
) -> User:
    try:
        with transaction.atomic():
            return User.objects.create(
                merchant=merchant, external_ref=external_ref, full_name=full_name,
                email=email, phone=phone,
            )
    except IntegrityError as exc:
        # The unique (merchant, external_ref) constraint decides, so concurrent duplicates lose too.
        if "uniq_user_ref" not in str(exc):
            raise
        raise validation_error(
            "external_ref", f"A user with external_ref {external_ref!r} already exists."
        ) from exc


def submit_kyc(
    merchant: Merchant, user_id: int, *, document_type: int, document_number: str
) -> KycSubmission:
    with transaction.atomic():
        user = user_of(merchant, user_id, lock=True)  # serialises submissions per user
        if user.kyc_status in (KYC_PENDING, KYC_VERIFIED):
            state = "pending review" if user.kyc_status == KYC_PENDING else "already verified"
            raise ApiError(
                "KYC_ALREADY_SUBMITTED",
                f"User {user.pk}'s KYC is {state}; a new submission is not accepted.", 409,
            )
        # signals.py moves the user's kyc_status to PENDING.
        return KycSubmission.objects.create(
            user=user, document_type=document_type, document_number=document_number
        )


def review_kyc(
    submission_id: int, reviewer: Any, *, verify: bool, reason: str = ""
) -> KycSubmission:
    """Verify or reject a pending submission (staff). Unlocking wallets happens in signals."""
    from monolith.accounts.serializers import KycSubmissionSerializer

    with transaction.atomic():
        submission = (
            KycSubmission.objects.select_for_update().select_related("user")
            .filter(pk=submission_id).first()
        )
        if submission is None:
            raise not_found("KYC submission")
        if submission.status != KYC_PENDING:
            raise ApiError(
                "KYC_NOT_PENDING",
                f"KYC submission {submission.pk} is {submission.get_status_display()}, "
                "not PENDING; only pending submissions can be reviewed.", 409,
            )
        submission.status = KYC_VERIFIED if verify else KYC_REJECTED
        submission.reason = "" if verify else reason
        submission.reviewed_by = reviewer if getattr(reviewer, "pk", None) else None
        submission.reviewed_at = timezone.now()
        submission.save()
        submission.user.refresh_from_db()
        data = KycSubmissionSerializer(submission).data
        event = "kyc.verified" if verify else "kyc.rejected"
        fire_on_commit(submission.user.merchant_id, event, dict(data))
        if verify:
            email_on_commit(submission.user_id, event, "Your KYC is verified",
                            "Your identity documents are verified; wallet limits are lifted.")
        else:
            email_on_commit(submission.user_id, event, "Your KYC was rejected",
                            f"Your identity documents were rejected: {reason}")
        return submission
