"""Webhook endpoint registration: create (secret shown once), list, delete."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.common.api import LegacyAPIView, WriteResult, validated
from monolith.hooks import services
from monolith.hooks.models import WebhookEndpoint
from monolith.hooks.serializers import (
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
)


class WebhookListView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return self.page(WebhookEndpoint.objects.filter(merchant=self.merchant).order_by("id"),
                         WebhookEndpointSerializer)

    def post(self, request: Request) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(WebhookEndpointCreateSerializer, body)
            endpoint = services.register_endpoint(self.merchant, data["url"], data["events"])
            return 201, WebhookEndpointCreatedSerializer(endpoint).data

        return self.write(idempotency_required=False, execute=execute)


class WebhookDetailView(LegacyAPIView):
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.delete_endpoint(self.merchant, endpoint_id)
        return Response(status=204)
