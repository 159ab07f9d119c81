"""Fat-model legacy: KYC submissions drive the user's kyc_status and wallet locks, synchronously.

- a new (PENDING) submission puts the user in PENDING;
- a VERIFIED submission verifies the user and unlocks their wallets;
- a REJECTED submission puts the user in REJECTED (they may submit again).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from monolith.accounts.models import KYC_PENDING, KYC_REJECTED, KYC_VERIFIED, KycSubmission


@receiver(post_save, sender=KycSubmission)
def unlock_wallets_on_verification(sender: Any, instance: KycSubmission, **kwargs: Any) -> None:
    if instance.status != KYC_VERIFIED:
        return
    from monolith.wallets.models import Wallet

    user = instance.user
    if user.kyc_status != KYC_VERIFIED:
        user.kyc_status = KYC_VERIFIED
        user.save(update_fields=["kyc_status", "updated_at"])
    Wallet.objects.filter(user=user, limits_locked=True).update(limits_locked=False)


@receiver(post_save, sender=KycSubmission)
def follow_submission_status(sender: Any, instance: KycSubmission, **kwargs: Any) -> None:
    if instance.status not in (KYC_PENDING, KYC_REJECTED):
        return
    user = instance.user
    if user.kyc_status == KYC_VERIFIED:
        return  # an old submission must never downgrade a verified user
    if user.kyc_status != instance.status:
        user.kyc_status = instance.status
        user.save(update_fields=["kyc_status", "updated_at"])
