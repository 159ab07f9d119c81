"""Merchant authentication: ``Authorization: Api-Key <raw key>``, and staff-only access.

Only the SHA-256 of a key is stored (``accounts_apikey.key_hash``). The authenticated
principal is a small :class:`MerchantPrincipal` wrapping the merchant, so DRF's
``IsAuthenticated`` works without teaching the legacy model about auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from monolith.accounts.models import ApiKey, Merchant, hash_api_key
from monolith.common.errors import ApiError

SCHEME = "Api-Key"


@dataclass(frozen=True)
class MerchantPrincipal:
    """``request.user`` for API-key requests."""

    merchant: Merchant
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def merchant_id(self) -> int:
        return self.merchant.pk


def parse_authorization(header: str) -> str | None:
    """Return the raw key from an ``Api-Key`` header value, ``None`` if the scheme is not ours."""
    scheme, _, raw = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower():
        return None
    return raw.strip()


def invalid_key() -> ApiError:
    return ApiError(
        "INVALID_API_KEY",
        "The API key is unknown, revoked, or its merchant is inactive.", 401,
    )


class ApiKeyAuthentication(BaseAuthentication):
    """A missing header leaves the request anonymous (-> 401 AUTHENTICATION_REQUIRED)."""

    def authenticate(self, request: Request) -> tuple[MerchantPrincipal, ApiKey] | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        raw = parse_authorization(header)
        if raw is None:
            return None
        if not raw:
            raise invalid_key()
        key = (
            ApiKey.objects.select_related("merchant")
            .filter(key_hash=hash_api_key(raw), revoked_at__isnull=True)
            .first()
        )
        if key is None or not key.merchant.is_active:
            raise invalid_key()
        return MerchantPrincipal(key.merchant), key

    def authenticate_header(self, request: Request) -> str:
        return SCHEME


def merchant_of(request: Request) -> Merchant:
    """The authenticated merchant of an API-key request."""
    user: Any = request.user
    if not isinstance(user, MerchantPrincipal):
        raise ApiError(
            "AUTHENTICATION_REQUIRED",
            "Authentication required: send 'Authorization: Api-Key <key>'.", 401,
        )
    return user.merchant


class IsStaff(BasePermission):
    """Staff session only; anyone else gets 403 STAFF_ONLY (also anonymous, per the contract)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is not None and getattr(user, "is_active", False) and getattr(
            user, "is_staff", False
        ):
            return True
        raise ApiError("STAFF_ONLY", "Only staff may review KYC; log in at /admin/login/.", 403)
