"""Compatibility shims in the control plane: set and cleared through the service, the API and the
CLI, checked before anything changes, published to the proxies, audited, and listed with their
traffic by ``strangler routes unused --shims`` so an operator can retire them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest
from rest_framework.test import APIClient

from routing_proxy.control_client import table_from_snapshot
from routing_proxy.routes import RouteTable
from strangler.control.routing import services
from strangler.control.routing.errors import InvalidRequestError
from strangler.control.routing.models import ApiToken, AuditEntry, RouteRule, RouteTableVersion

ROUTE = "GET /api/v1/wallets/{wallet_id}/transactions/"
NEW = "/v2/accounts/{wallet_id}/transactions"

pytestmark = pytest.mark.django_db(databases=["default", "control"], transaction=True)


def latest_table() -> RouteTable:
    latest = RouteTableVersion.objects.using("control").order_by("-version").first()
    assert latest is not None
    return table_from_snapshot(latest.version, latest.snapshot)


def test_a_shim_is_published_to_the_proxies_and_audited_and_clearing_it_is_too(table: object) -> None:
    result = services.set_upstream_path(ROUTE, f"  {NEW} ", reason="ledger serves /v2", actor="alice")
    assert result.version == 2
    (rule,) = latest_table().capability("wallets.transactions").rules
    assert rule.upstream_path == NEW and rule.rewrite is not None
    assert rule.rewrite.target({"wallet_id": "7"}, b"/api/v1/wallets/7/transactions/?page=2") == \
        b"/v2/accounts/7/transactions?page=2"
    entry = AuditEntry.objects.using("control").get(pk=result.audit_id)
    assert (entry.action, entry.actor, entry.capability, entry.reason, entry.version) == (
        "shim", "alice", "wallets.transactions", "ledger serves /v2", 2)
    assert entry.evidence == {"route": ROUTE, "upstream_path": {"from": None, "to": NEW}}

    cleared = services.set_upstream_path(ROUTE, None, reason="back to the legacy path", actor="bob")
    (rule,) = latest_table().capability("wallets.transactions").rules
    assert rule.upstream_path is None and rule.rewrite is None
    entry = AuditEntry.objects.using("control").get(pk=cleared.audit_id)
    assert entry.action == "unshim"
    assert entry.evidence["upstream_path"] == {"from": NEW, "to": None}


@pytest.mark.parametrize(
    ("route", "path", "reason", "message"),
    [
        (ROUTE, "/v2/../admin/{wallet_id}", "r", "has a dot segment"),
        (ROUTE, "https://evil.example/{wallet_id}", "r", "does not start with '/'"),
        (ROUTE, "//evil.example/{wallet_id}", "r", "empty segment"),
        (ROUTE, "/v2/{user_id}", "r", "does not capture"),
        (ROUTE, "/v2/accounts", "r", "drops {wallet_id}"),
        (ROUTE, "/v2/{wallet_id}?x=1", "r", "query or fragment"),
        (ROUTE, NEW, "  ", "a reason is required"),
        ("GET /api/v1/nowhere/", NEW, "r", "no route GET /api/v1/nowhere/"),
        ("/api/v1/wallets/", NEW, "r", "is invalid"),
        (ROUTE, None, "r", "already has no shim"),
    ],
)
def test_bad_shims_are_refused_saying_what_is_wrong_and_change_nothing(
        table: object, route: str, path: str | None, reason: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        services.set_upstream_path(route, path, reason=reason, actor="alice")
    assert message in str(refused.value) and "othing was changed" in str(refused.value)
    assert services.current_version() == 1
    assert not AuditEntry.objects.using("control").filter(action__in=["shim", "unshim"]).exists()
    assert not RouteRule.objects.using("control").exclude(upstream_path=None).exists()


def test_a_route_with_host_or_header_variants_is_refused_naming_the_count(table: object) -> None:
    rule = RouteRule.objects.using("control").get(path="/api/v1/wallets/{wallet_id}/transactions/")
    RouteRule.objects.using("control").create(capability=rule.capability, method="GET", path=rule.path,
                                              host="api.paystream.in")
    with pytest.raises(InvalidRequestError, match="has 2 rules"):
        services.set_upstream_path(ROUTE, NEW, reason="r", actor="alice")
    assert services.current_version() == 1


def token(*permissions: str) -> APIClient:
    _, raw = ApiToken.issue("-".join(permissions), list(permissions), using="control")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.mark.urls("strangler.control.urls")
def test_the_api_sets_a_shim_with_the_flip_permission_and_lists_it(table: object) -> None:
    url = "/api/capabilities/wallets.transactions/shim/"
    body = {"route": ROUTE, "upstream_path": NEW, "reason": "ledger serves /v2"}
    assert token("read").post(url, body, format="json").status_code == 403
    flipper = token("read", "flip")
    wrong = flipper.post("/api/capabilities/wallets/shim/", body, format="json")
    assert wrong.status_code == 400 and "is a route of wallets.transactions" in wrong.json()["message"]
    bad = flipper.post(url, {**body, "upstream_path": "/v2/{wallet_id}/../x"}, format="json")
    assert bad.status_code == 400 and "dot segment" in bad.json()["message"]
    assert services.current_version() == 1
    done = flipper.post(url, body, format="json")
    assert done.status_code == 201 and done.json()["version"] == 2
    assert AuditEntry.objects.using("control").get(pk=done.json()["audit_id"]).actor == "token:read-flip"
    listed = flipper.get("/api/capabilities/wallets.transactions/").json()
    assert listed["shims"] == {ROUTE: NEW} and listed["routes"] == [ROUTE]
    cleared = flipper.post(url, {**body, "upstream_path": None}, format="json")
    assert cleared.status_code == 201
    assert flipper.get("/api/capabilities/wallets.transactions/").json()["shims"] == {}


@pytest.mark.django_db(databases=[])
def test_the_cli_sets_a_shim_and_routes_unused_lists_it_with_its_traffic(
        fresh_database: Callable[[str], str]) -> None:
    url = fresh_database("control_shim")
    env = {**os.environ, "STRANGLER_CONTROL_DATABASE_URL": url, "COLUMNS": "250"}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def strangler(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "import sys; from strangler.cli import main; "
                               "sys.exit(main())", *argv], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    balance = "GET /api/v1/wallets/{wallet_id}/balance/"
    assert strangler("routes", "import-urlconf").returncode == 0
    neither = strangler("routes", "shim", balance, "--reason", "r")
    assert neither.returncode == 2 and "UPSTREAM_PATH or --clear" in " ".join(neither.stderr.split())
    refused = strangler("routes", "shim", balance, "/v2/../{wallet_id}", "--reason", "r", "--wait", "0")
    assert refused.returncode == 2 and "dot segment" in " ".join(refused.stderr.split())
    done = strangler("routes", "shim", balance, "/v2/accounts/{wallet_id}/balance", "--reason",
                     "ledger serves /v2", "--wait", "0")
    assert done.returncode == 0, done.stderr
    assert "/v2/accounts/{wallet_id}/balance" in strangler("routes", "list").stdout
    audit = strangler("routes", "audit", "--capability", "wallets.balance").stdout
    assert "shim" in audit and "(legacy path) → /v2/accounts/{wallet_id}/balance" in audit
    with psycopg.connect(url, autocommit=True) as conn:  # what the proxies' heartbeats record
        conn.execute("INSERT INTO strangler_route_traffic (minute, method, path, hits, monolith_hits) "
                     "VALUES (date_trunc('minute', now()), 'GET', %s, 42, 0)",
                     ("/api/v1/wallets/{wallet_id}/balance/",))
    shims = strangler("routes", "unused", "--days", "60", "--shims")
    assert shims.returncode == 0, shims.stderr
    lines = [line for line in shims.stdout.splitlines() if "wallets.balance" in line]
    assert len(lines) == 1 and " 42 " in lines[0], shims.stdout
    assert "→ /v2/accounts/{wallet_id}/balance" in shims.stdout
    assert "wallets.transactions" not in shims.stdout  # not a shim: not listed
