"""Cross-cutting contract: auth, the error shape, JSON-only bodies, 404/405, pagination, ids."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from monolith.accounts.models import ApiKey, User
from monolith.wallets.models import Transaction

from .conftest import Api, error_code

pytestmark = pytest.mark.django_db


def test_missing_api_key_is_401_authentication_required(client: Client) -> None:
    response = client.get("/api/v1/merchant/")
    assert response.status_code == 401
    assert error_code(response) == "AUTHENTICATION_REQUIRED"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_other_auth_scheme_counts_as_missing(client: Client) -> None:
    response = client.get("/api/v1/merchant/", headers={"Authorization": "Bearer abc"})
    assert (response.status_code, error_code(response)) == (401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize("header", ["Api-Key nope", "Api-Key ", "api-key wrong"])
def test_unknown_api_key_is_401_invalid_api_key(client: Client, header: str) -> None:
    response = client.get("/api/v1/merchant/", headers={"Authorization": header})
    assert (response.status_code, error_code(response)) == (401, "INVALID_API_KEY")


def test_revoked_key_and_inactive_merchant_are_invalid(api: Api) -> None:
    ApiKey.objects.filter(merchant=api.merchant).update(revoked_at=timezone.now())
    assert error_code(api.get("/api/v1/merchant/")) == "INVALID_API_KEY"
    ApiKey.objects.filter(merchant=api.merchant).update(revoked_at=None)
    assert api.get("/api/v1/merchant/").status_code == 200
    api.merchant.is_active = False
    api.merchant.save()
    assert error_code(api.get("/api/v1/merchant/")) == "INVALID_API_KEY"


def test_merchant_endpoint_shows_the_key_owner(api: Api) -> None:
    response = api.get("/api/v1/merchant/")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["id", "name", "email", "is_active", "created_at"]
    assert body["id"] == api.merchant.pk and body["name"] == "Acme"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30", body["created_at"])


def test_request_id_is_echoed_or_minted(api: Api) -> None:
    assert api.get("/api/v1/merchant/", {"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", api.get("/api/v1/merchant/")["X-Request-ID"])


def test_malformed_json_is_400_and_writes_nothing(api: Api) -> None:
    response = api.post("/api/v1/users/", raw='{"external_ref": "a",')
    assert (response.status_code, error_code(response)) == (400, "MALFORMED_JSON")
    assert not User.objects.exists()


def test_non_object_body_is_a_validation_error(api: Api) -> None:
    response = api.post("/api/v1/users/", raw="[1, 2]")
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert "non_field_errors" in response.json()["errors"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_body_is_415(api: Api, content_type: str) -> None:
    response = api.post("/api/v1/users/", raw="external_ref=a", content_type=content_type)
    assert (response.status_code, error_code(response)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert not User.objects.exists()


def test_wrong_method_is_405(api: Api) -> None:
    response = api.delete("/api/v1/merchant/")
    assert (response.status_code, error_code(response)) == (405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v2/users/", "/api/v1/wallets/abc/",
                                  "/api/v1/wallets/99999999999999999999999/"])
def test_unknown_api_paths_are_json_404(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == "NOT_FOUND"


def test_health_endpoints_need_no_auth(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_pagination_has_count_absolute_links_and_size_cap(
    api: Api, make_user: Callable[..., User]
) -> None:
    for _ in range(5):
        make_user(api.merchant)
    page1 = api.get("/api/v1/users/?page_size=2").json()
    assert page1["count"] == 5 and len(page1["results"]) == 2
    assert page1["previous"] is None
    assert page1["next"] == "http://testserver/api/v1/users/?page=2&page_size=2"
    page3 = api.get("/api/v1/users/?page=3&page_size=2").json()
    assert [u["id"] for u in page3["results"]] == [max(u.pk for u in User.objects.all())]
    assert page3["next"] is None
    ids = [u["id"] for u in api.get("/api/v1/users/?page_size=500").json()["results"]]
    assert ids == sorted(ids) and len(ids) == 5


def test_out_of_range_page_is_404(api: Api) -> None:
    response = api.get("/api/v1/users/?page=9")
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")


def test_lists_only_show_the_callers_objects(
    api: Api, make_api: Callable[[str], Api], make_wallet: Callable[..., Any]
) -> None:
    other = make_api("Other")
    make_wallet(other.merchant)
    mine = make_wallet(api.merchant)
    assert [w["id"] for w in api.get("/api/v1/wallets/").json()["results"]] == [mine.pk]
    assert Transaction.objects.count() == 0


def test_django_level_500_on_api_paths_is_json() -> None:
    from django.test import RequestFactory

    from monolith.common.errors import json_server_error

    response = json_server_error(RequestFactory().get("/api/v1/wallets/"))
    assert response.status_code == 500
    assert json.loads(response.content)["error_code"] == "INTERNAL_ERROR"


def test_unexpected_exception_in_a_view_becomes_internal_error() -> None:
    from monolith.common.errors import legacy_exception_handler

    response = legacy_exception_handler(RuntimeError("boom"), {})
    assert response.status_code == 500
    assert response.data["error_code"] == "INTERNAL_ERROR"
    assert "boom" not in response.data["message"]  # internals are not leaked
