"""The control plane's admin: every page a platform team browses opens, and nothing can be edited there."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from strangler.control.cutover.services import plan_for
from strangler.control.routing import services as routing
from strangler.control.routing.errors import GateRefusedError

PAGES = ("cutover/plan", "cutover/plantransition", "cutover/routetraffic", "routing/capability",
         "routing/auditentry", "reconciliation/reconciliationrun", "reconciliation/discrepancy")


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("ops-admin", "ops@example.com", "pw-for-tests")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.urls("strangler.control.urls")
@pytest.mark.django_db(databases=["default", "control"], transaction=True)
def test_every_control_page_opens_read_only_and_a_plan_shows_its_last_attempt(
        table: object, staff: Client) -> None:
    routing.flip("wallets", "shadow", reason="start", actor="alice")
    with pytest.raises(GateRefusedError):
        routing.flip("wallets", "extracted", reason="too soon", actor="alice")
    plan = plan_for("wallets")

    for page in PAGES:
        listing = staff.get(f"/admin/{page}/")
        assert listing.status_code == 200, page
        assert staff.get(f"/admin/{page}/add/").status_code == 403, f"{page} must not be editable"
    detail = staff.get(f"/admin/cutover/plan/{plan.pk}/change/")
    assert detail.status_code == 200 and b"wallets" in detail.content
    audit = staff.get("/admin/routing/auditentry/")
    assert b"flip_refused" in audit.content, "the refused flip is on the record"
