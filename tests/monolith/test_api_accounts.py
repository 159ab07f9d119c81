"""Users and KYC endpoints, including staff review over a Django session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffUser
from django.test import Client

from monolith.accounts.models import KYC_PENDING, KYC_REJECTED, KYC_VERIFIED, KycSubmission, User
from monolith.wallets.models import Wallet

from .conftest import Api, error_code

pytestmark = pytest.mark.django_db


def test_create_user_returns_the_contract_shape(api: Api) -> None:
    response = api.post("/api/v1/users/", {"external_ref": "c-1", "full_name": "Asha Rao",
                                           "email": "asha@example.com"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id", "external_ref", "full_name", "email", "phone", "kyc_status",
                          "kyc_status_display", "created_at"]
    assert (body["kyc_status"], body["kyc_status_display"], body["phone"]) == (0, "NONE", "")
    assert api.get(f"/api/v1/users/{body['id']}/").json() == body


def test_duplicate_external_ref_is_a_validation_error(api: Api) -> None:
    api.post("/api/v1/users/", {"external_ref": "c-1", "full_name": "A"})
    response = api.post("/api/v1/users/", {"external_ref": "c-1", "full_name": "B"})
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert "external_ref" in response.json()["errors"]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({"full_name": "A"}, "external_ref"), ({"external_ref": "x"}, "full_name"),
     ({"external_ref": 5, "full_name": "A"}, "external_ref"),
     ({"external_ref": "x", "full_name": "A", "email": "not-an-email"}, "email"),
     ({"external_ref": "x" * 65, "full_name": "A"}, "external_ref")],
)
def test_invalid_user_bodies_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.post("/api/v1/users/", body)
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert field in response.json()["errors"]
    assert not User.objects.exists()


def test_another_merchants_user_is_404(api: Api, make_api: Callable[[str], Api],
                                       make_user: Callable[..., User]) -> None:
    theirs = make_user(make_api("Other").merchant)
    for path in (f"/api/v1/users/{theirs.pk}/", f"/api/v1/users/{theirs.pk}/kyc/"):
        response = api.get(path)
        assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
    response = api.post(f"/api/v1/users/{theirs.pk}/kyc/",
                        {"document_type": "pan", "document_number": "ABCDE1234F"})
    assert response.status_code == 404
    assert not KycSubmission.objects.exists()


def test_kyc_submission_moves_user_to_pending_and_masks_the_number(
    api: Api, make_user: Callable[..., User]
) -> None:
    user = make_user(api.merchant, verified=False)
    response = api.post(f"/api/v1/users/{user.pk}/kyc/",
                        {"document_type": "pan", "document_number": "ABCDE1234F"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id", "user_id", "document_type", "document_number_masked", "status",
                          "status_display", "reason", "submitted_at", "reviewed_at"]
    assert body["document_type"] == "pan"
    assert body["document_number_masked"] == "XXXXXX234F"
    assert (body["status"], body["status_display"], body["reviewed_at"]) == (1, "PENDING", None)
    user.refresh_from_db()
    assert user.kyc_status == KYC_PENDING
    again = api.post(f"/api/v1/users/{user.pk}/kyc/",
                     {"document_type": "aadhaar", "document_number": "123412341234"})
    assert (again.status_code, error_code(again)) == (409, "KYC_ALREADY_SUBMITTED")
    assert [s["id"] for s in api.get(f"/api/v1/users/{user.pk}/kyc/").json()] == [body["id"]]


def test_invalid_kyc_document_type_is_a_validation_error(
    api: Api, make_user: Callable[..., User]
) -> None:
    user = make_user(api.merchant, verified=False)
    response = api.post(f"/api/v1/users/{user.pk}/kyc/",
                        {"document_type": "driving", "document_number": "X1234"})
    assert (response.status_code, error_code(response)) == (400, "VALIDATION_ERROR")
    assert "document_type" in response.json()["errors"]


@pytest.fixture
def staff_client() -> Client:
    StaffUser.objects.create_user("reviewer", password="pw-123456", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.login(username="reviewer", password="pw-123456")
    return client


def _csrf_post(client: Client, path: str, body: str = "{}") -> Any:
    client.get("/admin/")  # renders a form, which sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    return client.post(path, data=body, content_type="application/json",
                       headers={"X-CSRFToken": token})


def _submit(api: Api, user: User) -> int:
    response = api.post(f"/api/v1/users/{user.pk}/kyc/",
                        {"document_type": "passport", "document_number": "P1234567"})
    return int(response.json()["id"])


def test_staff_verification_unlocks_wallets(
    api: Api, make_user: Callable[..., User], staff_client: Client
) -> None:
    user = make_user(api.merchant, verified=False)
    wallet = Wallet.objects.create(merchant=api.merchant, user=user, limits_locked=True)
    submission_id = _submit(api, user)
    response = _csrf_post(staff_client, f"/api/v1/staff/kyc/{submission_id}/verify/")
    assert response.status_code == 200, response.content
    assert (response.json()["status_display"], response.json()["reviewed_at"] is None) == (
        "VERIFIED", False)
    wallet.refresh_from_db()
    user.refresh_from_db()
    assert (wallet.limits_locked, user.kyc_status) == (False, KYC_VERIFIED)
    again = _csrf_post(staff_client, f"/api/v1/staff/kyc/{submission_id}/verify/")
    assert (again.status_code, error_code(again)) == (409, "KYC_NOT_PENDING")


def test_staff_rejection_needs_a_reason_and_allows_resubmission(
    api: Api, make_user: Callable[..., User], staff_client: Client
) -> None:
    user = make_user(api.merchant, verified=False)
    submission_id = _submit(api, user)
    missing = _csrf_post(staff_client, f"/api/v1/staff/kyc/{submission_id}/reject/")
    assert (missing.status_code, error_code(missing)) == (400, "VALIDATION_ERROR")
    response = _csrf_post(staff_client, f"/api/v1/staff/kyc/{submission_id}/reject/",
                          '{"reason": "blurry scan"}')
    assert response.status_code == 200
    assert (response.json()["status_display"], response.json()["reason"]) == (
        "REJECTED", "blurry scan")
    user.refresh_from_db()
    assert user.kyc_status == KYC_REJECTED
    assert _submit(api, user) != submission_id


def test_staff_endpoints_refuse_non_staff_anonymous_and_api_keys(
    api: Api, make_user: Callable[..., User]
) -> None:
    submission_id = _submit(api, make_user(api.merchant, verified=False))
    path = f"/api/v1/staff/kyc/{submission_id}/verify/"
    anonymous = Client().post(path, "{}", content_type="application/json")
    assert (anonymous.status_code, error_code(anonymous)) == (403, "STAFF_ONLY")
    with_key = api.post(path, {})
    assert (with_key.status_code, error_code(with_key)) == (403, "STAFF_ONLY")
    StaffUser.objects.create_user("plain", password="pw-123456")
    plain = Client()
    plain.login(username="plain", password="pw-123456")
    response = plain.post(path, "{}", content_type="application/json")
    assert (response.status_code, error_code(response)) == (403, "STAFF_ONLY")
    assert KycSubmission.objects.get().status == KYC_PENDING


def test_staff_write_without_csrf_token_is_refused(
    api: Api, make_user: Callable[..., User], staff_client: Client
) -> None:
    submission_id = _submit(api, make_user(api.merchant, verified=False))
    response = staff_client.post(f"/api/v1/staff/kyc/{submission_id}/verify/", "{}",
                                 content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert KycSubmission.objects.get().status == KYC_PENDING


def test_unknown_submission_is_404_for_staff(staff_client: Client) -> None:
    response = _csrf_post(staff_client, "/api/v1/staff/kyc/999/verify/")
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
