"""The write capability's plan (``ledger.write``), pure: no canary, the hand-over at the flip."""

from __future__ import annotations

import pytest

from migrations import plan as machine
from migrations.plan import Position, Refusal, State
from strangler.control.routing.gates import Evidence, Verdict

WRITES = Position(State.PLANNED, writes=True)


def kinds(actions: tuple[machine.Action, ...]) -> list[str]:
    return [a.describe() for a in actions]


def test_a_write_plan_walks_planned_backfilled_shadow_extracted_decommissioned_without_a_canary() -> None:
    position, path = WRITES, []
    while (step := machine.needs(position)) is not None:
        path.append(step.describe())
        position = Position(machine.after(position, step).state, writes=True)
    assert path == ["planned → backfilled", "backfilled → shadow", "shadow → extracted",
                    "extracted → decommissioned"]


def test_a_canary_or_a_share_is_refused_for_a_write_plan_naming_why() -> None:
    shadow = Position(State.SHADOW, writes=True)
    with pytest.raises(ValueError, match="a write capability has no canary") as refused:
        machine.transition_to(shadow, State.CANARY)
    assert "wallet id" in str(refused.value) and "API key" in str(refused.value)
    with pytest.raises(ValueError, match="--percent does not apply"):
        machine.transition_to(shadow, State.EXTRACTED, "5")
    # the read plans keep their canary steps
    read = machine.transition_to(Position(State.SHADOW), State.EXTRACTED)
    assert read.target == State.CANARY and read.percent == "1"


def test_the_flip_holds_writes_around_it_and_releases_them_only_after_the_drain() -> None:
    step = machine.transition_to(Position(State.SHADOW, writes=True), State.EXTRACTED)
    assert step.requires == ("shadow", "side_effects", "reconciliation", "sync_lag")
    order = kinds(step.actions)
    assert order == ["copy_keys", "hold", "flip mode=extracted", "settle", "hand_ids to=ledger",
                     "drain_monolith", "copy_keys", "release", "switch_port to=extracted"]
    assert order.index("hold") < order.index("flip mode=extracted") < order.index("drain_monolith") \
        < order.index("release")
    assert kinds(step.rollback) == kinds(machine.WRITE_ROLLBACK)


def test_the_write_rollback_holds_drains_the_sync_hands_the_ids_back_then_flips_and_closes() -> None:
    back = machine.rollback_of(Position(State.EXTRACTED, writes=True))
    assert back.target == State.BACKFILLED
    assert kinds(back.actions) == ["hold", "drain_sync", "hand_ids to=monolith", "rollback_routing",
                                   "settle", "close", "switch_port to=monolith"]
    # the read plan's rollback is unchanged
    assert kinds(machine.rollback_of(Position(State.EXTRACTED)).actions) == [
        "switch_port to=monolith", "rollback_routing"]


def test_a_refused_write_flip_names_each_missing_piece_of_evidence() -> None:
    step = machine.transition_to(Position(State.SHADOW, writes=True), State.EXTRACTED)
    found = {"shadow": Evidence("shadow", Verdict.OK, "fine"),
             "side_effects": Evidence("side_effects", Verdict.INSUFFICIENT, "3 of 50 shadowed writes"),
             "reconciliation": Evidence("reconciliation", Verdict.FAILED, "2 wallets differ")}
    verdict = machine.decide(step, found)
    assert isinstance(verdict, Refusal)
    assert verdict.missing == ("side_effects: insufficient evidence: 3 of 50 shadowed writes",
                               "reconciliation: 2 wallets differ", "sync_lag: no evidence provider")
    assert "ledger.write cannot go shadow → extracted" in verdict.message("ledger.write")
