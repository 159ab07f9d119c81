"""The control plane's DRF API: read state, flip, roll back, set shims; the audit log is read-only.

Views translate HTTP to the service layer and ``ControlError`` back to HTTP; they
hold no routing logic. Auth is a bearer token with per-action permissions: read
for GETs, flip for flips and rollbacks, force in addition for a forced flip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from strangler.control.routing import services
from strangler.control.routing.api_auth import CanFlip, CanRead, TokenAuthentication
from strangler.control.routing.errors import ControlError, GateRefusedError, PermissionDeniedError
from strangler.control.routing.models import ApiToken, AuditEntry, Capability
from strangler.control.routing.serializers import (
    AuditEntrySerializer,
    CapabilitySerializer,
    ChangeResultSerializer,
    DeclareSerializer,
    FlipSerializer,
    InstanceSerializer,
    ReasonSerializer,
    ShimSerializer,
)


def control_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as ``{"error", "message"}`` (+ ``gate`` when a gate refused), whatever the settings."""
    if isinstance(exc, ControlError):
        body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, GateRefusedError):
            body["gate"] = exc.gate.as_json()
        return Response(body, status=exc.http_status)
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = {"error": type(exc).__name__,
                         "message": str(detail) if detail is not None else "invalid request",
                         **({} if detail is not None else {"fields": response.data})}
    return response


class _Api:
    # Set here, not from REST_FRAMEWORK: the test settings share the monolith's DRF defaults.
    authentication_classes: Sequence[type[BaseAuthentication]] = [TokenAuthentication]
    permission_classes: Sequence[Any] = [CanRead]
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return control_exception_handler


def _token(request: Request) -> ApiToken:
    token = request.auth
    assert isinstance(token, ApiToken), "CanRead/CanFlip admit only ApiToken requests"
    return token


def _change_body(result: services.ChangeResult, wait: float) -> dict[str, Any]:
    propagation = services.wait_for_version(result.version, wait) if wait else None
    return {"version": result.version, "audit_id": result.audit_id,
            "gate": result.gate.as_json() if result.gate else None,
            "applied": propagation.applied if propagation else [],
            "lagging": propagation.lagging if propagation else []}


class CapabilityViewSet(_Api, viewsets.ReadOnlyModelViewSet[Any]):
    queryset = Capability.objects.prefetch_related("rules").order_by("name")
    serializer_class = CapabilitySerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    pagination_class = None

    def get_permissions(self) -> Any:
        if self.action == "create":  # declaring a capability is a change, like a flip
            return [CanFlip()]
        return super().get_permissions()

    @extend_schema(request=DeclareSerializer, responses=ChangeResultSerializer)
    def create(self, request: Request) -> Response:
        """Declare a capability without routes (an inline side effect); it starts on the monolith."""
        form = DeclareSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.declare_capability(form.validated_data["name"],
                                             reason=form.validated_data["reason"],
                                             actor=f"token:{_token(request).name}")
        return Response(_change_body(result, 0), status=status.HTTP_201_CREATED)

    @extend_schema(request=FlipSerializer, responses=ChangeResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanFlip])
    def flip(self, request: Request, name: str) -> Response:
        form = FlipSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        token = _token(request)
        if data["force"] and not token.allows("force"):
            raise PermissionDeniedError(f"token {token.name!r} lacks the 'force' permission; "
                                        "nothing was changed")
        result = services.flip(name, data["mode"], percent=data["percent"], reason=data["reason"],
                               actor=f"token:{token.name}", force=data["force"])
        return Response(_change_body(result, data["wait"]), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=ChangeResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanFlip])
    def rollback(self, request: Request, name: str) -> Response:
        form = ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        result = services.rollback(name, reason=form.validated_data["reason"],
                                   actor=f"token:{_token(request).name}")
        return Response(_change_body(result, form.validated_data["wait"]), status=status.HTTP_201_CREATED)


    @extend_schema(request=ShimSerializer, responses=ChangeResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanFlip])
    def shim(self, request: Request, name: str) -> Response:
        """Set (or, with a null ``upstream_path``, clear) a route's compatibility shim."""
        form = ShimSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        result = services.set_upstream_path(data["route"], data["upstream_path"], reason=data["reason"],
                                            actor=f"token:{_token(request).name}", capability=name)
        return Response(_change_body(result, data["wait"]), status=status.HTTP_201_CREATED)


class AuditViewSet(_Api, viewsets.ReadOnlyModelViewSet[Any]):
    """The audit log; there is no way to change or delete an entry (405)."""

    queryset = AuditEntry.objects.order_by("-id")
    serializer_class = AuditEntrySerializer
    pagination_class = LimitOffsetPagination


class InstancesView(_Api, APIView):
    @extend_schema(responses=InstanceSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(InstanceSerializer(services.instances(), many=True).data)
