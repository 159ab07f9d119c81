"""The pure migration state machine: transitions, their evidence, refusals, rollbacks."""

from __future__ import annotations

import pytest

from migrations.plan import (
    CANARY_STEPS,
    Position,
    Proceed,
    Refusal,
    State,
    after,
    decide,
    failed_checks,
    needs,
    rollback_of,
    transition_to,
)
from strangler.control.routing.gates import Evidence, Verdict

OK = {name: Evidence(name, Verdict.OK, "fine") for name in
      ("capability", "capture", "backfill", "sync_lag", "shadow", "reconciliation", "routing",
       "legacy_traffic")}


def walk_to_the_end() -> list[str]:
    position, seen = Position(State.PLANNED), []
    while (step := needs(position)) is not None:
        assert isinstance(decide(step, OK), Proceed)
        seen.append(step.describe())
        position = after(position, step)
    return seen


def test_with_every_piece_of_evidence_the_plan_walks_every_state_and_each_canary_step_in_order() -> None:
    assert walk_to_the_end() == [
        "planned → backfilled", "backfilled → shadow",
        *(f"{'shadow' if i == 0 else 'canary'} → canary {share}%" for i, share in
          enumerate(CANARY_STEPS)),
        "canary → extracted", "extracted → decommissioned"]


def test_a_refusal_names_every_missing_or_failed_source_and_says_nothing_changed() -> None:
    step = transition_to(Position(State.SHADOW), State.CANARY)
    evidence = {**OK, "shadow": Evidence("shadow", Verdict.INSUFFICIENT, "no shadow observations"),
                "sync_lag": Evidence("sync_lag", Verdict.FAILED, "sync lag 9.0 s > 5 s")}
    del evidence["reconciliation"]
    verdict = decide(step, evidence)
    assert isinstance(verdict, Refusal)
    assert verdict.missing == ("shadow: insufficient evidence: no shadow observations",
                               "reconciliation: no evidence provider",
                               "sync_lag: sync lag 9.0 s > 5 s")
    message = verdict.message("wallets")
    assert "Nothing was changed; it stays shadow" in message and "shadow → canary 1%" in message


def test_each_transition_declares_its_actions_checks_and_the_actions_that_undo_it() -> None:
    first = transition_to(Position(State.PLANNED), State.BACKFILLED)
    assert [a.kind for a in first.actions] == ["enable_sync", "backfill"]
    assert first.checks == ("capture", "backfill", "sync_lag")
    out = transition_to(Position(State.CANARY, 3, "50"), State.EXTRACTED)
    assert [a.describe() for a in out.actions] == ["flip mode=extracted", "switch_port to=extracted"]
    assert [a.describe() for a in out.rollback] == ["switch_port to=monolith", "rollback_routing"]
    assert failed_checks(out, {}) == ("routing: no evidence provider",)


def test_a_named_canary_share_replaces_the_next_step_and_the_walk_continues_above_it() -> None:
    step = transition_to(Position(State.SHADOW), State.CANARY, "10")
    assert step.percent == "10"
    position = after(Position(State.SHADOW), step)
    follow = needs(position)
    assert follow is not None and follow.percent == "25"


def test_going_backwards_is_refused_by_advance_and_rollback_goes_to_safety_keeping_the_data() -> None:
    with pytest.raises(ValueError, match="not ahead"):
        transition_to(Position(State.EXTRACTED), State.SHADOW)
    back = rollback_of(Position(State.EXTRACTED))
    assert back.target == State.BACKFILLED
    assert [a.kind for a in back.actions] == ["switch_port", "rollback_routing"]
    assert rollback_of(Position(State.BACKFILLED)).target == State.PLANNED
    with pytest.raises(ValueError, match="redeploy"):
        rollback_of(Position(State.DECOMMISSIONED))
    assert needs(Position(State.DECOMMISSIONED)) is None
