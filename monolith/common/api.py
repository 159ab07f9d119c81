"""Base views of the legacy API: JSON-only bodies, merchant scoping, idempotent writes, pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from rest_framework import exceptions, generics, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.accounts.models import Merchant
from monolith.common.auth import merchant_of
from monolith.common.idempotency import (
    StoredResponse,
    execute_once,
    request_fingerprint,
    validate_key,
)

# (HTTP status, response data) produced by a write.
WriteResult = tuple[int, Any]


def json_body(request: Request) -> dict[str, Any]:
    """The parsed JSON object of a write, or the contract's 415/400."""
    has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
    if has_body and not request.content_type:
        # DRF would silently treat an untyped body as empty; the contract says JSON only.
        raise exceptions.UnsupportedMediaType("")
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": ["The request body must be a JSON object."]}
        )
    return data


def render(status: int, data: Any) -> StoredResponse:
    return StoredResponse(status, JSONRenderer().render(data))


class LegacyAPIView(generics.GenericAPIView[Any]):
    """A merchant-authenticated endpoint (Api-Key)."""

    @property
    def merchant(self) -> Merchant:
        return merchant_of(self.request)

    def write(
        self, *, idempotency_required: bool, execute: Callable[[dict[str, Any]], WriteResult]
    ) -> HttpResponse:
        """Validate and run a write; with an ``Idempotency-Key``, at most once per key."""
        request = self.request
        key = validate_key(
            request.headers.get("Idempotency-Key"), required=idempotency_required
        )
        body = json_body(request)
        if key is None:
            status, data = execute(body)
            return Response(data, status=status)
        fingerprint = request_fingerprint(request.method or "POST", request.path, body)
        merchant_id = self.merchant.pk
        stored = execute_once(merchant_id, key, fingerprint, lambda: render(*execute(body)))
        return HttpResponse(stored.body, status=stored.status, content_type="application/json")

    def page(self, queryset: QuerySet[Any], serializer: type[serializers.BaseSerializer[Any]]
             ) -> Response:
        rows = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer(rows, many=True).data)


def validated(serializer_class: type[serializers.Serializer[Any]], body: dict[str, Any]
              ) -> dict[str, Any]:
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
