"""Merchant API-key auth against the ledger's own copy of key hashes (from merchant events).

Behaves exactly like ``monolith.common.auth.ApiKeyAuthentication`` on the wire: a
missing or foreign scheme leaves the request anonymous (-> 401
AUTHENTICATION_REQUIRED), an unknown, revoked or inactive-merchant key is 401
INVALID_API_KEY, both with ``WWW-Authenticate: Api-Key``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from extracted.ledger_query.ledger.models import LedgerApiKey, LedgerMerchant
from monolith.common.errors import ApiError

SCHEME = "Api-Key"


@dataclass(frozen=True)
class MerchantPrincipal:
    """``request.user`` of an API-key request: only the merchant's id is known here."""

    merchant_id: int
    is_authenticated: bool = True
    is_staff: bool = False


def parse_authorization(header: str) -> str | None:
    """The raw key of an ``Api-Key`` header value, ``None`` if the scheme is not ours."""
    # restated from monolith.common.auth, which imports the monolith's models
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower():
        return None
    return raw.strip()


def invalid_key() -> ApiError:
    return ApiError("INVALID_API_KEY", "The API key is unknown, revoked, or its merchant is inactive.", 401)


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class LedgerApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[MerchantPrincipal, None] | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        raw = parse_authorization(header)
        if raw is None:
            return None
        if not raw:
            raise invalid_key()
        key = LedgerApiKey.objects.filter(key_hash=hash_api_key(raw), revoked_at__isnull=True).first()
        if key is None:
            raise invalid_key()
        # No merchant row means no deactivation was ever announced: merchants start active.
        if LedgerMerchant.objects.filter(merchant_id=key.merchant_id, active=False).exists():
            raise invalid_key()
        return MerchantPrincipal(key.merchant_id), None

    def authenticate_header(self, request: Request) -> str:
        return SCHEME
