"""Merchant API-key auth against this service's copy of key hashes (from merchant events).

Same wire behaviour as the monolith's ``Api-Key`` scheme: no or foreign scheme -> anonymous
(401 from the permission), unknown/revoked key or inactive merchant -> 401.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from extracted.webhooks.hooks.models import ApiKey, Merchant

SCHEME = "Api-Key"


@dataclass(frozen=True)
class MerchantPrincipal:
    merchant_id: int
    is_authenticated: bool = True
    is_staff: bool = False


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class MerchantApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[MerchantPrincipal, None] | None:
        scheme, _, raw = (request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != SCHEME.lower():
            return None
        key = ApiKey.objects.filter(key_hash=hash_api_key(raw.strip()), revoked_at__isnull=True).first()
        if key is None or Merchant.objects.filter(merchant_id=key.merchant_id, active=False).exists():
            raise AuthenticationFailed("The API key is unknown, revoked, or its merchant is inactive.")
        return MerchantPrincipal(key.merchant_id), None

    def authenticate_header(self, request: Request) -> str:
        return SCHEME
