"""The service layer: every change is a new version with an audit entry, or is refused whole."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connections, transaction

from routing_proxy.control_client import table_from_snapshot
from strangler.control.routing import services
from strangler.control.routing.errors import (
    AppendOnlyError,
    GateRefusedError,
    InvalidRequestError,
    TableRejectedError,
    UnknownCapabilityError,
)
from strangler.control.routing.models import AuditEntry, Capability, RouteTableVersion
from strangler.control.routing.urlconf import LegacyRoute, capability_for
from tests.control.conftest import ROUTES, control_url

pytestmark = pytest.mark.django_db(databases=["control"], transaction=True)


def latest_table() -> object:
    latest = RouteTableVersion.objects.order_by("-version").first()
    assert latest is not None
    return table_from_snapshot(latest.version, latest.snapshot)


def test_import_groups_routes_into_capabilities_on_the_monolith_and_is_idempotent(table: object) -> None:
    assert sorted(Capability.objects.values_list("name", "mode")) == [
        ("payouts", "monolith"), ("wallets", "monolith"), ("wallets.transactions", "monolith")]
    again = services.import_urlconf(ROUTES, actor="tester", reason="again")
    assert again.added == [] and again.known == len(ROUTES)
    assert again.version == 2


def test_capability_names_are_the_literal_segments_after_the_prefix() -> None:
    assert capability_for("/api/v1/wallets/{wallet_id}/transactions/", "/api/v1/") == "wallets.transactions"
    assert capability_for("/api/v1/staff/kyc/{id}/verify/", "/api/v1/") == "staff.kyc.verify"


def test_flip_to_shadow_publishes_a_version_and_audits_who_why_from_to(table: object) -> None:
    result = services.flip("wallets", "shadow", reason="start shadowing", actor="alice")
    assert result.version == 2
    entry = AuditEntry.objects.get(pk=result.audit_id)
    assert (entry.actor, entry.reason, entry.from_mode, entry.to_mode, entry.version, entry.forced) == (
        "alice", "start shadowing", "monolith", "shadow", 2, False)
    assert entry.evidence["required"] is False and len(entry.evidence["evidence"]) == 2
    assert latest_table().capability("wallets").mode == "shadow"  # type: ignore[attr-defined]


def test_flip_to_extracted_is_refused_with_insufficient_evidence_and_changes_nothing(table: object) -> None:
    with pytest.raises(GateRefusedError, match="0 shadow samples, 1000 needed") as refused:
        services.flip("wallets", "extracted", reason="go", actor="alice")
    assert "no parity certificate" in str(refused.value) and "stays monolith" in str(refused.value)
    assert Capability.objects.get(name="wallets").mode == "monolith"
    assert services.current_version() == 1
    with pytest.raises(GateRefusedError):
        services.flip("wallets", "canary", percent="5.01", reason="go", actor="alice")
    # each refused attempt is on the record: who, why, what was asked, the evidence that refused it
    refusals = list(AuditEntry.objects.filter(action="flip_refused").order_by("id"))
    assert [(e.actor, e.reason, e.from_mode, e.to_mode, e.to_basis_points, e.version, e.forced)
            for e in refusals] == [("alice", "go", "monolith", "extracted", 0, 1, False),
                                   ("alice", "go", "monolith", "canary", 501, 1, False)]
    assert refusals[0].evidence["holds"] is False
    assert "shadow: insufficient evidence: 0 shadow samples, 1000 needed" in refusals[0].evidence["missing"]


def test_forced_flip_past_the_gate_is_audited_as_forced_with_the_missing_evidence(table: object) -> None:
    result = services.flip("wallets", "extracted", reason="incident 42", actor="bob", force=True)
    entry = AuditEntry.objects.get(pk=result.audit_id)
    assert entry.forced and entry.reason == "incident 42"
    assert entry.evidence["holds"] is False
    assert "shadow: insufficient evidence: 0 shadow samples, 1000 needed" in entry.evidence["missing"]


def test_canary_takes_a_percentage_in_basis_points_and_gets_a_sticky_key(table: object) -> None:
    services.flip("payouts", "canary", percent="2.5", reason="small canary", actor="alice")
    cap = latest_table().capability("payouts")  # type: ignore[attr-defined]
    assert cap.canary_basis_points == 250 and cap.sticky_key is not None


@pytest.mark.parametrize(("name", "mode", "percent", "reason", "error", "text"), [
    ("nope", "shadow", None, "r", UnknownCapabilityError, "Known capabilities: payouts, wallets"),
    ("wallets", "canary", "150", "r", InvalidRequestError, "0.01 to 100"),
    ("wallets", "canary", None, "r", InvalidRequestError, "needs a percentage"),
    ("wallets", "shadow", "5", "r", InvalidRequestError, "only to mode canary"),
    ("wallets", "shadow", None, "  ", InvalidRequestError, "reason is required"),
    ("wallets", "sideways", None, "r", InvalidRequestError, "is not one of"),
])
def test_bad_flips_are_refused_and_change_nothing(table: object, name: str, mode: str,
                                                  percent: str | None, reason: str,
                                                  error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        services.flip(name, mode, percent=percent, reason=reason, actor="alice")
    assert services.current_version() == 1
    assert AuditEntry.objects.count() == 1  # the import's


def test_rollback_returns_to_the_monolith_without_a_gate(table: object) -> None:
    services.flip("wallets", "extracted", reason="forced", actor="bob", force=True)
    result = services.rollback("wallets", reason="errors spiking", actor="carol")
    entry = AuditEntry.objects.get(pk=result.audit_id)
    assert (entry.action, entry.from_mode, entry.to_mode) == ("rollback", "extracted", "monolith")
    assert latest_table().capability("wallets").mode == "monolith"  # type: ignore[attr-defined]


def test_kill_switches_are_versioned_and_audited(table: object) -> None:
    services.set_kill_switch("wallets", True, reason="bad deploy", actor="alice")
    assert latest_table().capability("wallets").killed  # type: ignore[attr-defined]
    services.set_kill_switch(None, True, reason="all hands", actor="alice")
    assert latest_table().kill_switch  # type: ignore[attr-defined]
    assert list(AuditEntry.objects.values_list("action", flat=True)[:2]) == ["kill", "kill"]


def test_an_overlapping_rule_is_refused_naming_both_rules_and_nothing_is_added(table: object) -> None:
    clash = [LegacyRoute("GET", "/api/v1/wallets/{other}/"), LegacyRoute("GET", "/api/v1/x/")]
    with pytest.raises(TableRejectedError) as refused:
        services.import_urlconf(clash, actor="tester", reason="clash")
    message = str(refused.value)
    assert "GET /api/v1/wallets/{wallet_id}/" in message and "GET /api/v1/wallets/{other}/" in message
    assert "Nothing was changed" in message
    assert not Capability.objects.filter(name="x").exists()
    assert services.current_version() == 1


def test_the_audit_log_refuses_edits_and_deletes_in_the_model_queryset_and_database(table: object) -> None:
    entry = AuditEntry.objects.get()
    entry.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().update(reason="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(using="control"), \
            connections["control"].cursor() as cursor:
        cursor.execute("DELETE FROM strangler_audit_entry")
    assert AuditEntry.objects.get().reason == "test fixture"


def test_publishing_notifies_listeners_with_the_version_at_commit(table: object) -> None:
    with psycopg.connect(control_url(), autocommit=True) as listener:
        listener.execute("LISTEN strangler_routes")
        result = services.flip("wallets", "shadow", reason="r", actor="a")
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert payloads == [str(result.version)]
