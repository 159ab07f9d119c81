"""Merchants, their end users, API keys and KYC: the oldest tables in PayStream."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class Merchant(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "accounts_merchant"

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """A merchant's API key. Only the SHA-256 is stored; the prefix helps humans find it."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_apikey"

    @classmethod
    def issue(cls, merchant: Merchant, raw: str | None = None) -> tuple[ApiKey, str]:
        raw = raw or "ps_live_" + secrets.token_urlsafe(24)
        key = cls.objects.create(merchant=merchant, prefix=raw[:12], key_hash=hash_api_key(raw))
        return key, raw


# KYC status codes (legacy integers, stored on the user and on the submission).
KYC_NONE, KYC_PENDING, KYC_VERIFIED, KYC_REJECTED = 0, 1, 2, 3
KYC_STATUS_CHOICES = [
    (KYC_NONE, "NONE"),
    (KYC_PENDING, "PENDING"),
    (KYC_VERIFIED, "VERIFIED"),
    (KYC_REJECTED, "REJECTED"),
]

DOC_PAN, DOC_AADHAAR, DOC_PASSPORT = 1, 2, 3
DOC_TYPE_CHOICES = [(DOC_PAN, "pan"), (DOC_AADHAAR, "aadhaar"), (DOC_PASSPORT, "passport")]


class User(models.Model):
    """An end user of a merchant (not a Django auth user)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="users")
    external_ref = models.CharField(max_length=64)
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    kyc_status = models.SmallIntegerField(choices=KYC_STATUS_CHOICES, default=KYC_NONE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "accounts_user"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "external_ref"], name="uniq_user_ref")
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.external_ref})"


class KycSubmission(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="kyc_submissions")
    document_type = models.SmallIntegerField(choices=DOC_TYPE_CHOICES)
    document_number = models.CharField(max_length=32)
    status = models.SmallIntegerField(choices=KYC_STATUS_CHOICES, default=KYC_PENDING)
    reason = models.CharField(max_length=255, blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    submitted_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_kycsubmission"
