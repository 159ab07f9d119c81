"""The merchant API: endpoints/subscriptions CRUD, the delivery log and a manual redeliver.

Every query is scoped to the authenticated merchant: another merchant's ids are 404.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from extracted.webhooks import service
from extracted.webhooks.config import get_config
from extracted.webhooks.hooks.models import Delivery, Endpoint
from extracted.webhooks.serializers import (
    CreatedEndpointSerializer,
    DeliverySerializer,
    EndpointSerializer,
)


def _merchant(request: Request) -> int:
    return int(request.user.merchant_id)  # type: ignore[union-attr]


class EndpointList(generics.ListCreateAPIView[Endpoint]):
    serializer_class = EndpointSerializer

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.filter(merchant_id=_merchant(self.request)).order_by("id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "allowlist": get_config().allowed_networks}

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save(merchant_id=_merchant(request), secret="whsec_" + secrets.token_hex(32))
        return Response(CreatedEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetail(generics.RetrieveUpdateDestroyAPIView[Endpoint]):
    serializer_class = EndpointSerializer

    def get_queryset(self) -> QuerySet[Endpoint]:
        return Endpoint.objects.filter(merchant_id=_merchant(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "allowlist": get_config().allowed_networks}


class DeliveryList(generics.ListAPIView[Delivery]):
    """``?status=dead_lettered&endpoint=3&event_id=…`` filter the log."""

    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        qs = Delivery.objects.filter(merchant_id=_merchant(self.request)).order_by("-id")
        for param, field in (("status", "status"), ("endpoint", "endpoint_id"), ("event_id", "event_id")):
            value = self.request.query_params.get(param)
            if value:
                qs = qs.filter(**{field: value})
        return qs


class DeliveryDetail(generics.RetrieveAPIView[Delivery]):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        return Delivery.objects.filter(merchant_id=_merchant(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "with_attempts": True}


class Redeliver(generics.GenericAPIView[Delivery]):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        return Delivery.objects.filter(merchant_id=_merchant(self.request))

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from extracted.webhooks.tasks import deliver

        with transaction.atomic():
            delivery = self.get_queryset().select_for_update().get(pk=self.get_object().pk)
            try:
                service.redeliver(delivery, get_config().max_attempts)
            except service.RedeliverRefused as exc:
                return Response({"error": {"code": "DELIVERY_IN_PROGRESS", "message": str(exc)}},
                                status=status.HTTP_409_CONFLICT)
            deliver.delay_on_commit(delivery.pk)
        delivery.refresh_from_db()
        body: BaseSerializer[Delivery] = self.get_serializer(delivery)
        return Response(body.data, status=status.HTTP_202_ACCEPTED)


__all__ = ["DeliveryDetail", "DeliveryList", "EndpointDetail", "EndpointList", "Redeliver"]
