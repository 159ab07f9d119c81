"""The control plane creates and flips a capability without routes (``webhooks.delivery``):
gated and audited like any other, left out of the proxies' route table, readable by the flag."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest
from rest_framework.test import APIClient

from extracted.webhooks.cutover import CAPABILITY
from strangler.capability_flags import CapabilityFlags
from strangler.control.routing import services
from strangler.control.routing.errors import GateRefusedError, InvalidRequestError
from strangler.control.routing.models import ApiToken, AuditEntry, RouteTableVersion
from tests.control.conftest import control_url

pytestmark = [pytest.mark.django_db(databases=["default", "control"], transaction=True),
              pytest.mark.urls("strangler.control.urls")]


def test_a_declared_capability_starts_on_the_monolith_and_flips_gated_and_audited() -> None:
    flags = CapabilityFlags(control_url(), ttl=0)
    assert flags.mode_of(CAPABILITY, "1") == "monolith"  # unknown: monolith
    declared = services.declare_capability(CAPABILITY, reason="strangle inline webhooks", actor="ops")
    assert AuditEntry.objects.get(pk=declared.audit_id).action == "declare"
    snapshot = RouteTableVersion.objects.get(version=declared.version).snapshot
    assert CAPABILITY not in [c["name"] for c in snapshot["capabilities"]]  # routes nothing

    services.flip(CAPABILITY, "shadow", reason="compare", actor="ops")
    assert flags.mode_of(CAPABILITY, "1") == "shadow"
    with pytest.raises(GateRefusedError):
        services.flip(CAPABILITY, "extracted", reason="go", actor="ops")
    assert flags.mode_of(CAPABILITY, "1") == "shadow"
    services.flip(CAPABILITY, "extracted", reason="go", actor="ops", force=True)
    assert flags.mode_of(CAPABILITY, "1") == "extracted"
    actions = list(AuditEntry.objects.filter(capability=CAPABILITY).order_by("id")
                   .values_list("action", "to_mode", "forced"))
    assert actions == [("declare", "monolith", False), ("flip", "shadow", False),
                       ("flip_refused", "extracted", False), ("flip", "extracted", True)]


@pytest.mark.parametrize("name", ["", "Webhooks Delivery", "a/b", "x" * 121])
def test_bad_or_duplicate_names_are_refused_and_change_nothing(name: str) -> None:
    with pytest.raises(InvalidRequestError):
        services.declare_capability(name, reason="r", actor="ops")
    services.declare_capability("notifications.dispatch", reason="r", actor="ops")
    with pytest.raises(InvalidRequestError, match="exists already"):
        services.declare_capability("notifications.dispatch", reason="r", actor="ops")
    with pytest.raises(InvalidRequestError, match="reason"):
        services.declare_capability("other.thing", reason=" ", actor="ops")
    assert AuditEntry.objects.filter(action="declare").count() == 1


def test_the_api_declares_with_a_flip_token_only() -> None:
    def client(*permissions: str) -> APIClient:
        _, raw = ApiToken.issue("-".join(permissions), list(permissions))
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return api

    body = {"name": CAPABILITY, "reason": "strangle inline webhooks"}
    reader, flipper = client("read"), client("read", "flip")
    denied = reader.post("/api/capabilities/", body, format="json")
    assert denied.status_code == 403
    created = flipper.post("/api/capabilities/", body, format="json")
    assert created.status_code == 201, created.content
    assert AuditEntry.objects.get(pk=created.json()["audit_id"]).actor == "token:read-flip"
    listed = reader.get(f"/api/capabilities/{CAPABILITY}/").json()
    assert (listed["mode"], listed["routes"]) == ("monolith", [])
    again = flipper.post("/api/capabilities/", body, format="json")
    assert again.status_code == 400 and "exists already" in again.json()["message"]


@pytest.mark.django_db(databases=[])
def test_the_cli_declares_and_flips_a_capability_without_routes(
    fresh_database: Callable[[str], str],
) -> None:
    url = fresh_database("control_cli")
    env = {**os.environ, "STRANGLER_CONTROL_DATABASE_URL": url}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def strangler(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "import sys; from strangler.cli import main; "
                               "sys.exit(main())", *argv], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    declared = strangler("routes", "declare", CAPABILITY, "--reason", "strangle", "--wait", "0")
    assert declared.returncode == 0, declared.stderr
    again = strangler("routes", "declare", CAPABILITY, "--reason", "strangle", "--wait", "0")
    assert again.returncode == 2 and "exists already" in " ".join(again.stderr.split())
    flipped = strangler("routes", "flip", CAPABILITY, "shadow", "--reason", "compare", "--wait", "0")
    assert flipped.returncode == 0, flipped.stderr
    assert CapabilityFlags(url, ttl=0).mode_of(CAPABILITY, "7") == "shadow"
    with psycopg.connect(url) as conn:
        actions = conn.execute("SELECT action, to_mode FROM strangler_audit_entry WHERE capability = %s"
                               " ORDER BY id", (CAPABILITY,)).fetchall()
    assert actions == [("declare", "monolith"), ("flip", "shadow")]
