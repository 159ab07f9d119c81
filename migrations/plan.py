"""The migration plan of a capability: a pure state machine, no I/O.

    planned ─▶ backfilled ─▶ shadow ─▶ canary(step 0..n) ─▶ extracted ─▶ decommissioned
       ▲            │           │            │                  │
       └── rollback ┘           └────────────┴──── rollback ────┴─▶ backfilled

Each transition declares, as data: the evidence it requires (names of evidence
sources that must answer ``ok``), the actions that carry it out (in order, each
idempotent, so an interrupted step can resume at the first action not done), the
checks run afterwards, and the actions that undo it. Adapters execute actions and
gather evidence; this module only decides.

A capability that moves *writes* (``WRITE_CAPABILITIES``: ``ledger.write``) has no canary:

    planned ─▶ backfilled ─▶ shadow (dry-run writes) ─▶ extracted ─▶ decommissioned

The proxy buckets a canary by API key and the monolith's port by wallet id, so a canary
could let both sides write one wallet. Its shadow → extracted step is the hand-over
(``WRITE_CUTOVER``): hold the ledger's writes, flip, let the flags settle, hand the posting
ids over, drain the monolith's last postings into the ledger, copy the Idempotency-Keys,
release. Its rollback holds, lets the legacy tables catch up, hands the ids back, flips
back and closes the ledger's write path.

Evidence reuses the routing gate's ``Evidence``/``Verdict`` (also pure), so a plan's
refusal reads like a gate's refusal and lands in the same audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    writes: bool = False  # a write capability's plan: no canary, the hand-over at the flip


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
# Capabilities that move writes: one flag for the proxy's write routes and the monolith's port.
WRITE_CAPABILITIES = frozenset({"ledger.write"})
WRITE_GATED = ("shadow", "side_effects", "reconciliation", "sync_lag")
NO_CANARY = ("a write capability has no canary: the proxy would bucket writes by API key and the "
             "monolith's port by wallet id, so both sides could write one wallet. It goes shadow → "
             "extracted in one step, with the hand-over")


def _a(kind: str, **args: str) -> Action:
    return Action(kind, tuple(args.items()))


# The hand-over at the write flip, in order; each action idempotent (a resumed step re-runs the
# first one not recorded done). ``hold``: the ledger's write path holds writes; ``flip``: both
# doors (proxy routes and the port's flag) to the ledger; ``settle``: every proxy serves the new
# table and every port's flag cache has expired; ``hand_ids``: the ledger's ids above the
# monolith's; ``drain_monolith``: the monolith's last postings are in the ledger; ``copy_keys``
# (again): the Idempotency-Keys of writes in flight at the flip; ``release``: writes flow.


def _flip(mode: str, percent: str | None = None) -> Action:
    return Action("flip", (("mode", mode),) + ((("percent", percent),) if percent else ()))


WRITE_CUTOVER = (_a("copy_keys"), _a("hold"), _flip("extracted"), _a("settle"), _a("hand_ids", to="ledger"),
                 _a("drain_monolith"), _a("copy_keys"), _a("release"), PORT_TO_EXTRACTED)
# Back to the monolith as the writer: hold the ledger's writes, let ``ledger_sync`` mirror every
# ledger posting into the legacy tables, the monolith's ids above the ledger's, flip both doors
# back, let them settle, and close the ledger's write path (a write still reaching it is a 503).
WRITE_ROLLBACK = (_a("hold"), _a("drain_sync"), _a("hand_ids", to="monolith"), ROUTING_BACK, _a("settle"),
                  _a("close"), PORT_TO_MONOLITH)


def transition_to(position: Position, target: State, percent: str | None = None) -> Transition:
    """The one transition from ``position`` towards ``target`` (the next hop), or ValueError."""
    state = position.state
    if ORDER.index(target) < ORDER.index(state) or (target == state and state != State.CANARY):
        raise ValueError(f"{target} is not ahead of {state}; use rollback to go back")
    if position.writes:
        return _write_transition(position, target, percent)
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


def _write_transition(position: Position, target: State, percent: str | None) -> Transition:
    """A write capability's next hop: the read plan's, except no canary and the hand-over."""
    if target == State.CANARY or percent is not None:
        raise ValueError(NO_CANARY + ("" if percent is None else "; --percent does not apply"))
    state = position.state
    if state == State.SHADOW:
        return Transition(state, State.EXTRACTED, WRITE_GATED, WRITE_CUTOVER, ("routing",),
                          WRITE_ROLLBACK)
    if state == State.CANARY:  # cannot be reached through this machine; a hand-edited plan
        raise ValueError("a write capability's plan cannot stand in canary; roll it back")
    return transition_to(replace(position, writes=False), target)


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
    if position.writes and state == State.EXTRACTED:
        return Transition(state, State.BACKFILLED, (), WRITE_ROLLBACK, (), ())
    actions = (PORT_TO_MONOLITH, ROUTING_BACK) if state == State.EXTRACTED else (ROUTING_BACK,)
    return Transition(state, State.BACKFILLED, (), actions, (), ())


def needs(position: Position) -> Transition | None:
    """The next transition ``advance`` would attempt, or None at the end."""
    if position.state == State.DECOMMISSIONED:
        return None
    if position.writes:
        return transition_to(position, State(ORDER[ORDER.index(position.state) + 1])
                             if position.state != State.SHADOW else State.EXTRACTED)
    target = State.EXTRACTED if position.state == State.CANARY and _next_share(position) is None \
        else State(ORDER[min(ORDER.index(position.state) + 1, len(ORDER) - 1)])
    if position.state == State.CANARY and _next_share(position) is not None:
        target = State.CANARY
    return transition_to(position, target)
