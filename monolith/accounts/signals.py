"""Fat-model legacy: a verified KYC unlocks the user's wallets, synchronously."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from monolith.accounts.models import KYC_VERIFIED, KycSubmission


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
