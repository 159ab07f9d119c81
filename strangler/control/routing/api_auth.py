"""Bearer-token authentication and per-action permissions (read, flip, force) for the API."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from strangler.control.routing.models import ApiToken


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer stc_...``; ``request.auth`` is the ApiToken, ``request.user`` None."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, raw = header.partition(" ")
        if keyword != self.keyword or not raw.strip():
            return None
        from strangler.control.routing.services import control_db

        token = ApiToken.objects.using(control_db()).filter(
            token_sha256=ApiToken.digest(raw.strip()), revoked=False).first()
        if token is None:
            raise exceptions.AuthenticationFailed("unknown or revoked token; create one with "
                                                  "`strangler token create NAME --permissions read`")
        return (None, token)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class _TokenPermission(BasePermission):
    permission = "read"

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        if not token.allows(self.permission):
            self.message = (f"token {token.name!r} lacks the {self.permission!r} permission; "
                            "nothing was changed")
            return False
        return True


class CanRead(_TokenPermission):
    permission = "read"


class CanFlip(_TokenPermission):
    permission = "flip"
