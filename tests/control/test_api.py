"""The DRF API: token auth, per-action permissions, clear refusals, a read-only audit log, a schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from strangler.control.routing import services
from strangler.control.routing.models import ApiToken, AuditEntry

# "default" too: the test settings' middleware (the monolith's) may touch its connection.
pytestmark = [pytest.mark.django_db(databases=["default", "control"], transaction=True),
              pytest.mark.urls("strangler.control.urls")]


def client(*permissions: str) -> APIClient:
    _, raw = ApiToken.issue("-".join(permissions) or "none", list(permissions))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def test_a_read_token_lists_capabilities_but_cannot_flip(table: object) -> None:
    reader = client("read")
    listed = reader.get("/api/capabilities/")
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()] == ["payouts", "wallets", "wallets.transactions"]
    refused = reader.post("/api/capabilities/wallets/flip/", {"mode": "shadow", "reason": "r"}, format="json")
    assert refused.status_code == 403 and "lacks the 'flip' permission" in refused.json()["message"]
    assert services.current_version() == 1


def test_requests_without_a_valid_token_are_unauthorised(table: object) -> None:
    assert APIClient().get("/api/capabilities/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer stc_wrong")
    assert bad.get("/api/capabilities/").status_code == 401


def test_a_flip_token_flips_and_the_audit_names_the_token(table: object) -> None:
    flipper = client("read", "flip")
    response = flipper.post("/api/capabilities/wallets/flip/",
                            {"mode": "canary", "percent": "12.5", "reason": "ramp"}, format="json")
    assert response.status_code == 409 and "insufficient evidence" in response.json()["message"]
    assert response.json()["gate"]["missing"]
    response = flipper.post("/api/capabilities/wallets/flip/",
                                           {"mode": "shadow", "reason": "ramp"}, format="json")
    assert response.status_code == 201, response.json()
    assert AuditEntry.objects.get(pk=response.json()["audit_id"]).actor == "token:read-flip"


def test_force_needs_the_force_permission(table: object) -> None:
    body = {"mode": "extracted", "reason": "incident", "force": True}
    denied = client("flip").post("/api/capabilities/wallets/flip/", body, format="json")
    assert denied.status_code == 403 and "force" in denied.json()["message"]
    allowed = client("read", "flip", "force").post("/api/capabilities/wallets/flip/", body, format="json")
    assert allowed.status_code == 201
    assert AuditEntry.objects.get(pk=allowed.json()["audit_id"]).forced


@pytest.mark.parametrize(("path", "body", "status", "text"), [
    ("/api/capabilities/nope/flip/", {"mode": "shadow", "reason": "r"}, 404, "unknown capability"),
    ("/api/capabilities/wallets/flip/", {"mode": "canary", "percent": "0.005", "reason": "r"}, 400,
     "0.01 to 100"),
    ("/api/capabilities/wallets/flip/", {"mode": "shadow"}, 400, "reason is required"),
    ("/api/capabilities/wallets/rollback/", {}, 400, "reason is required"),
])
def test_bad_input_gets_a_clear_error_and_changes_nothing(table: object, path: str, body: dict[str, str],
                                                          status: int, text: str) -> None:
    response = client("read", "flip").post(path, body, format="json")
    assert response.status_code == status and text in response.json()["message"]
    assert services.current_version() == 1


def test_the_audit_log_api_is_read_only(table: object) -> None:
    api = client("read", "flip", "force")
    entry = api.get("/api/audit/").json()["results"][0]
    assert entry["reason"] == "test fixture"
    for method in ("put", "patch", "delete"):
        assert getattr(api, method)(f"/api/audit/{entry['id']}/", {"reason": "x"},
                                    format="json").status_code == 405
    assert AuditEntry.objects.get(pk=entry["id"]).reason == "test fixture"


def test_the_openapi_schema_describes_the_flip_action(table: object) -> None:
    response = client("read").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/capabilities/{name}/flip/" in response.json()["paths"]
