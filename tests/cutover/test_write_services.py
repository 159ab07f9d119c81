"""``ledger.write`` through the plan machinery against the real control database.

One capability carries the proxy's write routes and is the flag the monolith's port reads;
its plan has no canary; the hand-over's actions run in order, resume after a crash, and
the rollback runs the write rollback. The hand-over's actions themselves (which need the
monolith's and the ledger's databases) are recorded here and proven in
``tests/extracted/ledger_query/test_write_hold.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from routing_proxy.control_client import table_from_snapshot
from routing_proxy.decision import MONOLITH, decide, match
from strangler.capability_flags import CapabilityFlags
from strangler.control.cutover import evidence as plan_evidence
from strangler.control.cutover import services
from strangler.control.cutover.errors import InvalidPlanRequestError, PlanRefusedError
from strangler.control.cutover.models import Plan
from strangler.control.routing import services as routing
from strangler.control.routing.gates import Verdict
from strangler.control.routing.models import Capability, RouteRule
from strangler.control.routing.urlconf import LegacyRoute
from tests.cutover.conftest import CrashOnce, RecordingActions, Verdicts
from tests.extracted.ledger_query.ledger_service import django_database_url

pytestmark = pytest.mark.django_db(databases=["control"], transaction=True)
CAP = "ledger.write"
HAND_OVER = ("copy_keys", "hold", "settle", "hand_ids", "drain_monolith", "release", "drain_sync", "close")


@dataclass
class HandOverRecorded(RecordingActions):
    """Real flips and ports; the hand-over's database steps only recorded (in ``ran``)."""

    def __getattribute__(self, name: str) -> object:
        if name in HAND_OVER:
            return lambda action, plan, *, actor, reason: None
        return super().__getattribute__(name)


@pytest.fixture
def write_table() -> routing.ImportResult:
    return routing.import_urlconf(
        [LegacyRoute("POST", "/api/v1/wallets/{wallet_id}/credit/"),
         LegacyRoute("POST", "/api/v1/wallets/{wallet_id}/debit/"),
         LegacyRoute("POST", "/api/v1/transfers/"),
         LegacyRoute("GET", "/api/v1/wallets/{wallet_id}/balance/")], actor="tester", reason="fixture")


@pytest.fixture
def side_effects(verdicts: Verdicts) -> Iterator[Verdicts]:
    saved = plan_evidence.register_provider("side_effects", lambda _plan: verdicts.answer("side_effects"))
    yield verdicts
    if saved is not None:
        plan_evidence.register_provider("side_effects", saved)


@pytest.fixture
def recorded() -> HandOverRecorded:
    return HandOverRecorded()


def advance(actions: RecordingActions, **kwargs: str) -> list[services.StepResult]:
    return services.advance(CAP, actor="op", reason="test", executor=actions, **kwargs)


def declared() -> services.DeclareResult:
    return services.declare_write_capability(CAP, actor="op", reason="one flag for both doors")


def test_one_capability_carries_the_write_routes_and_the_proxy_never_falls_back_on_a_write(
        write_table: object) -> None:
    result = declared()
    assert sorted(result.moved) == [
        "POST /api/v1/transfers/ (from transfers)",
        "POST /api/v1/wallets/{wallet_id}/credit/ (from wallets.credit)",
        "POST /api/v1/wallets/{wallet_id}/debit/ (from wallets.debit)"]
    assert declared().moved == ()  # again: nothing to move
    rules = RouteRule.objects.using("control").filter(capability__name=CAP)
    assert {r.method for r in rules} == {"POST"} and rules.count() == 3

    routing.flip(CAP, "extracted", reason="test", actor="op", force=True)
    table = table_from_snapshot(routing.current_version(), routing.snapshot())
    for path in ("/api/v1/wallets/7/credit/", "/api/v1/wallets/7/debit/", "/api/v1/transfers/"):
        decision = decide(table, match(table, "POST", path, "h", {}), "POST", "key")
        assert decision.capability == CAP and decision.upstream != MONOLITH
        assert decision.fallback_allowed is False, "a write is never replayed on the monolith"
    read = decide(table, match(table, "GET", "/api/v1/wallets/7/balance/", "h", {}), "GET", "key")
    assert read.capability == "wallets.balance" and read.upstream == MONOLITH

    # the port reads the same flag: one flip moved both doors
    flags = CapabilityFlags(django_database_url("control"), ttl=0)
    assert flags.mode_of(CAP, "7") == "extracted"


def test_routes_are_not_moved_out_of_a_capability_that_is_not_on_the_monolith(write_table: object) -> None:
    routing.flip("wallets.credit", "shadow", reason="test", actor="op", force=True)
    with pytest.raises(InvalidPlanRequestError, match=r"wallets\.credit, which is in shadow"):
        declared()
    assert not Capability.objects.using("control").filter(name=CAP).exists()


def test_a_share_or_a_canary_is_refused_with_the_reason_and_nothing_changes(
        write_table: object, side_effects: Verdicts, recorded: HandOverRecorded) -> None:
    declared()
    advance(recorded, to="shadow")
    with pytest.raises(InvalidPlanRequestError, match="--percent does not apply: a write capability has "
                                                      "no canary"):
        advance(recorded, percent="5")
    with pytest.raises(InvalidPlanRequestError, match="has no canary"):
        advance(recorded, to="canary")
    assert Plan.objects.using("control").get(capability=CAP).state == "shadow"
    assert Capability.objects.using("control").get(name=CAP).mode == "shadow"


def test_the_write_flip_needs_side_effect_parity_and_names_it_when_missing(
        write_table: object, side_effects: Verdicts, recorded: HandOverRecorded) -> None:
    declared()
    advance(recorded, to="shadow")
    side_effects.set("side_effects", Verdict.INSUFFICIENT, "12 of 50 shadowed writes compared")
    with pytest.raises(PlanRefusedError) as refused:
        advance(recorded)
    assert refused.value.missing == ("side_effects: insufficient evidence: 12 of 50 shadowed writes "
                                     "compared",)
    assert "hold" not in recorded.ran


def test_the_hand_over_runs_in_order_and_resumes_after_a_crash_at_the_first_action_not_done(
        write_table: object, side_effects: Verdicts, recorded: HandOverRecorded) -> None:
    declared()
    advance(recorded, to="shadow")
    recorded.ran.clear()
    recorded.crash_on = "drain_monolith"
    with pytest.raises(CrashOnce):
        advance(recorded)
    plan = Plan.objects.using("control").get(capability=CAP)
    assert plan.state == "shadow" and plan.in_progress is not None
    assert plan.in_progress["next_action"] == 5
    assert recorded.ran == ["copy_keys", "hold", "flip mode=extracted", "settle", "hand_ids to=ledger"]

    recorded.ran.clear()
    (resumed,) = advance(recorded)
    assert resumed.transition == "shadow → extracted" and resumed.outcome == "done"
    assert recorded.ran == ["drain_monolith", "copy_keys", "release", "switch_port to=extracted"]
    plan = Plan.objects.using("control").get(capability=CAP)
    assert (plan.state, plan.in_progress, plan.ports) == ("extracted", None, {"ledger_writes": "extracted"})

    recorded.ran.clear()
    back = services.rollback(CAP, actor="op", reason="ledger misbehaves", executor=recorded)
    assert back.transition == "extracted → backfilled"
    assert recorded.ran == ["hold", "drain_sync", "hand_ids to=monolith", "rollback_routing", "settle",
                            "close", "switch_port to=monolith"]
    assert Capability.objects.using("control").get(name=CAP).mode == "monolith"


def test_an_interrupted_hand_over_rolls_back_with_the_write_rollback(
        write_table: object, side_effects: Verdicts, recorded: HandOverRecorded) -> None:
    declared()
    advance(recorded, to="shadow")
    recorded.crash_on = "settle"
    with pytest.raises(CrashOnce):
        advance(recorded)
    recorded.ran.clear()
    services.rollback(CAP, actor="op", reason="abort", executor=recorded)
    assert recorded.ran[:3] == ["hold", "drain_sync", "hand_ids to=monolith"]
    assert "close" in recorded.ran and "rollback_routing" in recorded.ran
    plan = Plan.objects.using("control").get(capability=CAP)
    assert (plan.state, plan.in_progress) == ("backfilled", None)
    assert Capability.objects.using("control").get(name=CAP).mode == "monolith"




def test_direct_flips_rollbacks_and_kill_switches_of_the_write_capability_are_refused(
        write_table: object) -> None:
    """Only the plan's hand-over moves writes safely; a direct change names the command that does."""
    from strangler.control.routing.errors import InvalidRequestError
    from strangler.control.routing.models import AuditEntry, GlobalSwitch

    declared()
    with pytest.raises(InvalidRequestError, match="only its plan moves it: `strangler migrate advance"):
        routing.flip(CAP, "shadow", reason="test", actor="op")
    assert Capability.objects.using("control").get(name=CAP).mode == "monolith"
    routing.set_kill_switch(CAP, True, reason="on the monolith a kill is harmless", actor="op")
    routing.set_kill_switch(CAP, False, reason="undo", actor="op")

    routing.flip(CAP, "extracted", reason="emergency", actor="op", force=True)  # as a broken plan might
    assert AuditEntry.objects.using("control").filter(action="flip", capability=CAP).latest("id").forced
    for change in (lambda: routing.rollback(CAP, reason="test", actor="op"),
                   lambda: routing.set_kill_switch(CAP, True, reason="test", actor="op")):
        with pytest.raises(InvalidRequestError, match=r"strangler migrate rollback ledger\.write"):
            change()
    with pytest.raises(InvalidRequestError, match="the global switch would send them back"):
        routing.set_kill_switch(None, True, reason="test", actor="op")
    cap = Capability.objects.using("control").get(name=CAP)
    assert (cap.mode, cap.killed) == ("extracted", False)
    assert not GlobalSwitch.objects.using("control").filter(kill_switch=True).exists()
    routing.set_kill_switch(None, True, reason="no other way", actor="op", force=True)
    assert AuditEntry.objects.using("control").filter(action="kill").latest("id").forced
