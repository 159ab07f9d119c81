"""The legacy error contract: every failure is JSON of one shape, never an HTML page.

    {"status": "error", "error_code": "...", "message": "...", "errors": {}}

Hierarchy::

    rest_framework.exceptions.APIException
     └── ApiError                 a contract error: code + HTTP status + message (+ field errors)

Domain code raises :class:`ApiError` (or the helpers below); DRF's own exceptions are
mapped to contract codes by :func:`legacy_exception_handler`; Django-level 404/500
(unknown URLs, crashes outside DRF) are rendered by :func:`json_not_found` and
:func:`json_server_error`, wired as ``handler404``/``handler500`` in ``monolith.urls``.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response

_log = structlog.get_logger("monolith.errors")


class ApiError(drf.APIException):
    """A contract error: ``error_code`` and HTTP status, a human sentence and field errors."""

    def __init__(
        self,
        error_code: str,
        message: str,
        status: int,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail=message)
        self.error_code = error_code
        self.message = message
        self.status_code = status
        self.errors = errors or {}


def not_found(what: str = "Object") -> ApiError:
    return ApiError("NOT_FOUND", f"{what} not found.", 404)


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(
        "VALIDATION_ERROR", "The request is invalid; see errors.", 400, {field: [message]}
    )


def error_body(
    error_code: str, message: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    return {"status": "error", "error_code": error_code, "message": message, "errors": errors or {}}


def _field_errors(detail: Any) -> dict[str, list[str]]:
    """Flatten DRF's nested ``detail`` into field -> list of messages."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):  # nested serializer: prefix with the parent field
                for sub, messages in _field_errors(value).items():
                    out[f"{field}.{sub}"] = messages
            elif isinstance(value, list):
                out[str(field)] = [str(v) for v in value]
            else:
                out[str(field)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def classify(exc: Exception) -> ApiError:
    """Map any exception raised in a view to the contract error it stands for."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        return ApiError(
            "VALIDATION_ERROR", "The request is invalid; see errors.", 400,
            _field_errors(exc.detail),
        )
    if isinstance(exc, drf.ParseError):
        return ApiError("MALFORMED_JSON", str(exc.detail), 400)
    if isinstance(exc, drf.NotAuthenticated):
        return ApiError(
            "AUTHENTICATION_REQUIRED",
            "Authentication required: send 'Authorization: Api-Key <key>'.", 401,
        )
    if isinstance(exc, drf.AuthenticationFailed):
        return ApiError("INVALID_API_KEY", str(exc.detail), 401)
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        # The only 403 in the contract; DRF raises it for a CSRF failure on staff endpoints too.
        detail = getattr(exc, "detail", None) or "Only staff may do this."
        return ApiError("STAFF_ONLY", str(detail), 403)
    if isinstance(exc, drf.NotFound | Http404):
        return not_found()
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError("METHOD_NOT_ALLOWED", str(exc.detail), 405)
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"{exc.detail} Send 'Content-Type: application/json'.", 415,
        )
    if isinstance(exc, drf.APIException):
        return ApiError("INTERNAL_ERROR", str(exc.detail), exc.status_code)
    return ApiError("INTERNAL_ERROR", "An internal error occurred; nothing was changed.", 500)


def legacy_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: every exception becomes the contract's JSON error."""
    error = classify(exc)
    if error.status_code >= 500:
        _log.error("api.unhandled_exception", exc_info=exc)
    response = Response(
        error_body(error.error_code, error.message, error.errors), status=error.status_code
    )
    auth_header = getattr(exc, "auth_header", None)
    if error.status_code == 401:
        response["WWW-Authenticate"] = auth_header or "Api-Key"
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: JSON for API paths, Django's page elsewhere (admin)."""
    if not _is_api(request):
        return defaults.page_not_found(request, exception or Http404())
    return JsonResponse(
        error_body("NOT_FOUND", f"No API endpoint at {request.path}."), status=404
    )


def json_server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON for API paths, Django's page elsewhere."""
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse(
        error_body("INTERNAL_ERROR", "An internal error occurred; nothing was changed."),
        status=500,
    )
