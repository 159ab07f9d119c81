"""Advancing and rolling back a capability's plan against the real control database."""

from __future__ import annotations

import pytest

from strangler.control.cutover import services
from strangler.control.cutover.errors import ChecksPendingError, PlanRefusedError
from strangler.control.cutover.models import Plan, PlanTransition
from strangler.control.routing import services as routing
from strangler.control.routing.gates import Verdict
from strangler.control.routing.models import AuditEntry, Capability
from tests.cutover.conftest import CrashOnce, RecordingActions, Verdicts

pytestmark = pytest.mark.django_db(databases=["control"], transaction=True)
CAP = "wallets.transactions"


def mode() -> tuple[str, str]:
    cap = Capability.objects.using("control").get(name=CAP)
    return cap.mode, cap.percent


def advance(actions: RecordingActions, **kwargs: str) -> list[services.StepResult]:
    return services.advance(CAP, actor="op", reason="test", executor=actions, **kwargs)


def test_advance_is_refused_with_the_missing_evidence_named_and_nothing_changes(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    advance(actions, to="shadow")
    verdicts.set("reconciliation", Verdict.INSUFFICIENT, "no parity certificate")
    verdicts.set("sync_lag", Verdict.FAILED, "sync lag 12.0 s > 5 s")
    audits_before = AuditEntry.objects.using("control").count()

    with pytest.raises(PlanRefusedError) as refused:
        advance(actions)

    assert refused.value.missing == ("reconciliation: insufficient evidence: no parity certificate",
                                     "sync_lag: sync lag 12.0 s > 5 s")
    assert "it stays shadow" in str(refused.value)
    assert Plan.objects.using("control").get(capability=CAP).state == "shadow"
    assert mode() == ("shadow", "0.00")
    assert AuditEntry.objects.using("control").count() == audits_before
    refusal = PlanTransition.objects.using("control").filter(outcome="refused").get()
    assert refusal.to_state == "canary" and len(refusal.missing) == 2
    (row,) = services.status(CAP)
    assert row.next == "shadow → canary 1%" and row.missing == refused.value.missing


def test_each_transition_flips_the_route_and_is_audited_with_its_evidence(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    steps = advance(actions, to="extracted")

    assert [s.transition for s in steps] == [
        "planned → backfilled", "backfilled → shadow", "shadow → canary 1%", "canary → extracted"]
    assert actions.ran == ["enable_sync", "backfill", "flip mode=shadow",
                           "flip mode=canary percent=1", "flip mode=extracted",
                           "switch_port to=extracted"]
    assert mode() == ("extracted", "0.00")
    plan = Plan.objects.using("control").get(capability=CAP)
    assert (plan.state, plan.in_progress, plan.ports) == ("extracted", None,
                                                         {"ledger_reads": "extracted"})
    audit = AuditEntry.objects.using("control").get(pk=int(steps[-1].audit_id or 0))
    assert (audit.action, audit.from_mode, audit.to_mode) == ("migrate", "canary", "extracted")
    assert audit.from_basis_points == 100
    assert set(audit.evidence["requires"]) == {"shadow", "reconciliation", "sync_lag"}
    assert audit.evidence["requires"]["shadow"]["verdict"] == "ok"


def test_a_step_interrupted_half_way_resumes_at_the_first_action_not_done(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    advance(actions, to="canary")
    version_before = routing.current_version()
    actions.crash_on = "switch_port"

    with pytest.raises(CrashOnce):
        advance(actions, to="extracted")

    plan = Plan.objects.using("control").get(capability=CAP)  # what a restarted process reads
    assert plan.state == "canary" and plan.in_progress is not None
    assert plan.in_progress["next_action"] == 1 and plan.in_progress["target"] == "extracted"
    assert mode() == ("extracted", "0.00")  # the flip had happened before the crash
    assert services.status(CAP)[0].in_progress == plan.in_progress

    actions.ran.clear()
    (resumed,) = advance(actions)

    assert resumed.transition == "canary → extracted" and resumed.outcome == "done"
    assert actions.ran == ["switch_port to=extracted"]  # the flip was not repeated
    assert routing.current_version() == version_before + 1
    assert Plan.objects.using("control").get(capability=CAP).in_progress is None


def test_an_interrupted_step_rolls_back_to_the_monolith_keeping_the_backfilled_data(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    advance(actions, to="canary")
    actions.crash_on = "switch_port"
    with pytest.raises(CrashOnce):
        advance(actions, to="extracted")

    result = services.rollback(CAP, actor="op", reason="abort", executor=actions)

    plan = Plan.objects.using("control").get(capability=CAP)
    assert (plan.state, plan.in_progress, plan.ports) == ("backfilled", None,
                                                         {"ledger_reads": "monolith"})
    assert mode() == ("monolith", "0.00")
    assert result.transition == "canary → backfilled"
    audit = AuditEntry.objects.using("control").get(pk=int(result.audit_id or 0))
    assert (audit.action, audit.reason) == ("migrate-rollback", "abort")
    assert PlanTransition.objects.using("control").filter(outcome="rolled_back").count() == 1


def test_checks_that_do_not_hold_keep_the_step_open_until_an_advance_finds_them_holding(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    verdicts.set("backfill", Verdict.INSUFFICIENT, "the ledger consumer has not caught up")
    with pytest.raises(ChecksPendingError, match="has not caught up"):
        advance(actions)
    assert Plan.objects.using("control").get(capability=CAP).state == "planned"

    verdicts.set("backfill", Verdict.OK, "handed over")
    actions.ran.clear()
    (done,) = advance(actions)

    assert done.transition == "planned → backfilled" and actions.ran == []
    assert Plan.objects.using("control").get(capability=CAP).state == "backfilled"


def test_a_fast_lever_outside_the_plan_stops_advance_until_plan_and_traffic_agree(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    from strangler.control.cutover.errors import InvalidPlanRequestError

    advance(actions, to="canary")
    assert mode() == ("canary", "1.00")
    routing.rollback(CAP, reason="incident: errors on the ledger", actor="oncall")  # the fast lever

    (status,) = services.status(CAP)
    assert status.missing[0].startswith("routing: the route table says monolith but the plan says canary 1%")
    with pytest.raises(InvalidPlanRequestError, match="route table says monolith"):
        advance(actions)  # it would have sent the traffic back out at 5 %, unasked
    assert mode() == ("monolith", "0.00")

    services.rollback(CAP, actor="oncall", reason="bring the plan in line", executor=actions)
    (status,) = services.status(CAP)
    assert status.state == "backfilled" and not any(m.startswith("routing:") for m in status.missing)
    advance(actions)  # back on the plan: shadow first, as if new
    assert mode() == ("shadow", "0.00")


def test_a_decommissioned_capability_is_not_rolled_back_to_a_monolith_whose_code_is_gone(
        table: object, verdicts: Verdicts, actions: RecordingActions) -> None:
    from strangler.control.routing.errors import InvalidRequestError

    advance(actions, to="decommissioned")
    assert mode() == ("extracted", "0.00")
    with pytest.raises(InvalidRequestError, match="decommissioned: the monolith's code"):
        routing.rollback(CAP, reason="reflex", actor="oncall")
    assert mode() == ("extracted", "0.00")

    result = routing.rollback(CAP, reason="monolith redeployed with the code", actor="oncall", force=True)
    assert mode() == ("monolith", "0.00")
    assert AuditEntry.objects.using("control").get(pk=result.audit_id).forced
