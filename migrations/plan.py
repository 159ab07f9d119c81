"""The migration plan of a capability: a pure state machine, no I/O.

    planned ─▶ backfilled ─▶ shadow ─▶ canary(step 0..n) ─▶ extracted ─▶ decommissioned
       ▲            │           │            │                  │
       └── rollback ┘           └────────────┴──── rollback ────┴─▶ backfilled

Each transition declares, as data: the evidence it requires (names of evidence
sources that must answer ``ok``), the actions that carry it out (in order, each
idempotent, so an interrupted step can resume at the first action not done), the
checks run afterwards, and the actions that undo it. Adapters execute actions and
gather evidence; this module only decides.

Evidence reuses the routing gate's ``Evidence``/``Verdict`` (also pure), so a plan's
refusal reads like a gate's refusal and lands in the same audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from strangler.control.routing.gates import Evidence, Verdict


class State(StrEnum):
    PLANNED = "planned"
    BACKFILLED = "backfilled"
    SHADOW = "shadow"
    CANARY = "canary"
    EXTRACTED = "extracted"
    DECOMMISSIONED = "decommissioned"


ORDER = tuple(State)
# Canary shares, in percent, walked one per ``advance``; ``--percent`` may pick another share.
CANARY_STEPS = ("1", "5", "25", "50")


@dataclass(frozen=True)
class Action:
    """One idempotent thing an adapter does: ``kind`` picks the executor, ``args`` parameterise it."""

    kind: str  # enable_sync | backfill | flip | switch_port | rollback_routing
    args: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return self.kind + "".join(f" {k}={v}" for k, v in self.args)

    def arg(self, name: str, default: str = "") -> str:
        return dict(self.args).get(name, default)


@dataclass(frozen=True)
class Transition:
    source: State
    target: State
    requires: tuple[str, ...]  # evidence sources that must say ok
    actions: tuple[Action, ...]
    checks: tuple[str, ...]  # evidence sources that must say ok afterwards
    rollback: tuple[Action, ...]
    percent: str | None = None  # the canary share this transition sets

    def describe(self) -> str:
        share = f" {self.percent}%" if self.percent is not None else ""
        return f"{self.source} → {self.target}{share}"


@dataclass(frozen=True)
class Position:
    """Where a capability's plan stands; ``step`` indexes CANARY_STEPS while in canary."""

    state: State
    step: int = 0
    percent: str | None = None


@dataclass(frozen=True)
class Refusal:
    transition: Transition
    missing: tuple[str, ...]  # "shadow: insufficient evidence: ...", "sync_lag: 12.3 s > 2 s"

    def message(self, capability: str) -> str:
        return (f"{capability} cannot go {self.transition.describe()}: "
                + "; ".join(self.missing)
                + f". Nothing was changed; it stays {self.transition.source}. Gather the evidence "
                  "and advance again.")


@dataclass(frozen=True)
class Proceed:
    transition: Transition
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)


SYNC = Action("enable_sync")
BACKFILL = Action("backfill")
ROUTING_BACK = Action("rollback_routing")
PORT_TO_EXTRACTED = Action("switch_port", (("to", "extracted"),))
PORT_TO_MONOLITH = Action("switch_port", (("to", "monolith"),))
GATED = ("shadow", "reconciliation", "sync_lag")


def _flip(mode: str, percent: str | None = None) -> Action:
    return Action("flip", (("mode", mode),) + ((("percent", percent),) if percent else ()))


def transition_to(position: Position, target: State, percent: str | None = None) -> Transition:
    """The one transition from ``position`` towards ``target`` (the next hop), or ValueError."""
    state = position.state
    if ORDER.index(target) < ORDER.index(state) or (target == state and state != State.CANARY):
        raise ValueError(f"{target} is not ahead of {state}; use rollback to go back")
    if state == State.PLANNED:
        return Transition(state, State.BACKFILLED, ("capability",), (SYNC, BACKFILL),
                          ("capture", "backfill", "sync_lag"), ())
    if state == State.BACKFILLED:
        return Transition(state, State.SHADOW, ("capture", "backfill", "sync_lag"),
                          (_flip("shadow"),), ("routing",), (ROUTING_BACK,))
    if state in (State.SHADOW, State.CANARY) and target == State.CANARY:
        share = percent or _next_share(position)
        if share is None:
            raise ValueError(f"the last canary step ({position.percent}%) is done; advance to "
                             "extracted, or name a larger share with --percent")
        return Transition(state, State.CANARY, GATED, (_flip("canary", share),), ("routing",),
                          (ROUTING_BACK,), percent=share)
    if state == State.SHADOW:  # towards extracted: through the first canary step
        share = percent or CANARY_STEPS[0]
        return Transition(state, State.CANARY, GATED, (_flip("canary", share),), ("routing",),
                          (ROUTING_BACK,), percent=share)
    if state == State.CANARY:
        return Transition(state, State.EXTRACTED, GATED, (_flip("extracted"), PORT_TO_EXTRACTED),
                          ("routing",), (PORT_TO_MONOLITH, ROUTING_BACK))
    if state == State.EXTRACTED:
        return Transition(state, State.DECOMMISSIONED, ("reconciliation", "legacy_traffic"), (),
                          ("legacy_traffic",), ())
    raise ValueError(f"{state} is the last state; there is nothing to advance to")


def _next_share(position: Position) -> str | None:
    if position.state == State.SHADOW:
        return CANARY_STEPS[0]
    current = float(position.percent or 0)
    return next((s for s in CANARY_STEPS if float(s) > current), None)


def decide(transition: Transition, evidence: Mapping[str, Evidence]) -> Proceed | Refusal:
    """Proceed if every required source answered ok; otherwise name each one that did not."""
    missing = tuple(_why(name, evidence.get(name)) for name in transition.requires
                    if evidence.get(name) is None or evidence[name].verdict is not Verdict.OK)
    if missing:
        return Refusal(transition, missing)
    return Proceed(transition, tuple(evidence[n] for n in transition.requires))


def failed_checks(transition: Transition, evidence: Mapping[str, Evidence]) -> tuple[str, ...]:
    return tuple(_why(name, evidence.get(name)) for name in transition.checks
                 if evidence.get(name) is None or evidence[name].verdict is not Verdict.OK)


def _why(name: str, found: Evidence | None) -> str:
    if found is None:
        return f"{name}: no evidence provider"
    if found.verdict is Verdict.INSUFFICIENT:
        return f"{name}: insufficient evidence: {found.detail}"
    return f"{name}: {found.detail}"


def after(position: Position, transition: Transition) -> Position:
    """The position once ``transition`` has completed."""
    if transition.target == State.CANARY:
        share = transition.percent or CANARY_STEPS[0]
        step = next((i for i, s in enumerate(CANARY_STEPS) if float(s) >= float(share)),
                    len(CANARY_STEPS))
        return Position(State.CANARY, step, share)
    return Position(transition.target)


def rollback_of(position: Position) -> Transition:
    """Back to safety: routing to the monolith, data kept. Refused once decommissioned."""
    state = position.state
    if state == State.DECOMMISSIONED:
        raise ValueError("a decommissioned capability's monolith code is gone; rolling back is a "
                         "redeploy of the monolith, not a flag")
    if state == State.PLANNED:
        raise ValueError("a planned capability has nothing to roll back")
    if state == State.BACKFILLED:
        # the extracted rows stay: the backfill is idempotent and the live stream keeps them fresh
        return Transition(state, State.PLANNED, (), (), (), ())
    actions = (PORT_TO_MONOLITH, ROUTING_BACK) if state == State.EXTRACTED else (ROUTING_BACK,)
    return Transition(state, State.BACKFILLED, (), actions, (), ())


def needs(position: Position) -> Transition | None:
    """The next transition ``advance`` would attempt, or None at the end."""
    if position.state == State.DECOMMISSIONED:
        return None
    target = State.EXTRACTED if position.state == State.CANARY and _next_share(position) is None \
        else State(ORDER[min(ORDER.index(position.state) + 1, len(ORDER) - 1)])
    if position.state == State.CANARY and _next_share(position) is not None:
        target = State.CANARY
    return transition_to(position, target)
