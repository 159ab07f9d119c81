"""The one way a capability's migration plan moves: status, advance, rollback.

Each call takes a session advisory lock per capability on the control database (a
second operator gets ``PlanBusyError``; a killed process releases it). The pure
machine (``migrations.plan``) picks the transition and judges the evidence; this
module records the attempt, runs the actions one by one — saving after each which
one comes next, so a step interrupted half-way resumes at the first action not done,
or is rolled back — runs the checks, and writes the audit entry with the evidence.
Actions run outside any database transaction: a backfill takes minutes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.db import connections
from django.utils import timezone

from migrations import plan as machine
from migrations.plan import Action, Position, Refusal, State, Transition
from strangler.control.cutover import evidence
from strangler.control.cutover.actions import ActionExecutor
from strangler.control.cutover.errors import (
    ChecksPendingError,
    InvalidPlanRequestError,
    PlanBusyError,
    PlanRefusedError,
)
from strangler.control.cutover.models import Plan, PlanTransition
from strangler.control.reconciliation.evidence import RECONCILED_AS
from strangler.control.routing import services as routing
from strangler.control.routing.gates import Evidence
from strangler.control.routing.models import AuditEntry, Capability

_LOCK_NAMESPACE = 0x4355544F  # "CUTO"


@dataclass(frozen=True)
class PlanStatus:
    capability: str
    state: str
    percent: str | None
    route_mode: str
    ports: dict[str, str]
    in_progress: dict[str, Any] | None
    next: str | None  # "shadow → canary 1%", None at the end
    needs: tuple[str, ...]  # evidence sources the next transition requires
    missing: tuple[str, ...]  # of those, the ones that do not hold, with why


@dataclass(frozen=True)
class StepResult:
    capability: str
    transition: str
    outcome: str
    audit_id: int | None
    actions: tuple[str, ...]


def _db() -> str:
    return routing.control_db()


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidPlanRequestError("a reason is required (--reason \"...\"); nothing was changed.")
    return reason.strip()


@contextmanager
def _locked(capability: str) -> Iterator[None]:
    key = zlib.crc32(capability.encode()) & 0x7FFFFFFF
    with connections[_db()].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, key])
        row = cursor.fetchone()
        if not (row and row[0]):
            raise PlanBusyError(f"another process is advancing or rolling back {capability}; "
                                "nothing was changed. Wait for it (see `strangler migrate status`).")
        try:
            yield
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, key])


def plan_for(capability: str) -> Plan:
    plan, _ = Plan.objects.using(_db()).get_or_create(
        capability=capability, defaults={"data_capability": RECONCILED_AS.get(capability, "")})
    return plan


def _position(plan: Plan) -> Position:
    return Position(State(plan.state), plan.step, plan.percent or None,
                    writes=plan.capability in machine.WRITE_CAPABILITIES)


def _json(found: dict[str, Evidence]) -> dict[str, Any]:
    return {name: asdict(e) for name, e in found.items()}


# -- status -----------------------------------------------------------------------------
def status(capability: str | None = None) -> list[PlanStatus]:
    db = _db()
    names = [capability] if capability else sorted(
        set(Capability.objects.using(db).values_list("name", flat=True))
        | set(Plan.objects.using(db).values_list("capability", flat=True)))
    return [_status(plan_for(name) if capability else _peek(name)) for name in names]


def _peek(name: str) -> Plan:
    found = Plan.objects.using(_db()).filter(capability=name).first()
    return found or Plan(capability=name, data_capability=RECONCILED_AS.get(name, ""))


_ROUTED_AS = {State.SHADOW: "shadow", State.CANARY: "canary", State.EXTRACTED: "extracted",
              State.DECOMMISSIONED: "extracted"}


def routing_drift(plan: Plan, cap: Capability | None) -> str | None:
    """Why the route table disagrees with where the plan put it, or None.

    The fast levers (``strangler rollback``, ``routes flip``) move routing without the
    plan: right in an incident, but an ``advance`` from a plan that no longer describes
    the traffic would send it back out unasked.
    """
    expected = _ROUTED_AS.get(State(plan.state))
    if cap is None or expected is None or plan.in_progress:
        return None
    same_share = expected != "canary" or (plan.percent and float(cap.percent) == float(plan.percent))
    if cap.mode == expected and same_share:
        return None
    routed = f"canary {float(cap.percent):g}%" if cap.mode == "canary" else cap.mode
    planned = f"canary {plan.percent}%" if expected == "canary" else expected
    return (f"routing: the route table says {routed} but the plan says {planned} (a fast lever "
            "moved it). Run `strangler migrate rollback` to bring the plan back to the traffic, or "
            "`strangler routes flip` to put the traffic back where the plan is")


def _status(plan: Plan) -> PlanStatus:
    cap = Capability.objects.using(_db()).filter(name=plan.capability).first()
    upcoming = machine.needs(_position(plan))
    missing: tuple[str, ...] = ()
    if upcoming is not None:
        verdict = machine.decide(upcoming, evidence.gather(plan, upcoming.requires))
        missing = verdict.missing if isinstance(verdict, Refusal) else ()
    drift = routing_drift(plan, cap)
    if drift is not None:
        missing = (drift, *missing)
    return PlanStatus(plan.capability, plan.state, plan.percent or None,
                      cap.mode if cap else "(not routed)", dict(plan.ports), plan.in_progress,
                      upcoming.describe() if upcoming else None,
                      upcoming.requires if upcoming else (), missing)


# -- advance ----------------------------------------------------------------------------
def advance(capability: str, *, actor: str, reason: str, executor: ActionExecutor,
            to: str | None = None, percent: str | None = None) -> list[StepResult]:
    """Resume an interrupted step if there is one, then take the next transition (or every
    transition up to ``to``). Refused, with the missing evidence named, if a gate is short."""
    reason = _require_reason(reason)
    target = _target(to)
    if percent is not None and capability in machine.WRITE_CAPABILITIES:
        raise InvalidPlanRequestError(f"{capability}: --percent does not apply: {machine.NO_CANARY}. "
                                      "Nothing was changed.")
    results: list[StepResult] = []
    with _locked(capability):
        plan = plan_for(capability)
        drift = routing_drift(plan, Capability.objects.using(_db()).filter(name=capability).first())
        if drift is not None:
            raise InvalidPlanRequestError(f"{capability} cannot advance: {drift}. Nothing was changed.")
        if plan.in_progress:
            results.append(_resume(plan, executor, actor, reason))
            if target is None:
                return results
        while True:
            position = _position(plan)
            if target is not None and _reached(position, target, percent):
                return results
            try:
                transition = (machine.transition_to(position, target, percent) if target
                              else _next(position, percent))
            except ValueError as exc:
                raise InvalidPlanRequestError(f"{capability}: {exc}; nothing was changed.") from exc
            found = evidence.gather(plan, transition.requires)
            verdict = machine.decide(transition, found)
            if isinstance(verdict, Refusal):
                _record_refusal(plan, transition, verdict, found, actor, reason)
                raise PlanRefusedError(verdict.message(capability), verdict.missing)
            row = PlanTransition.objects.using(_db()).create(
                plan=plan, kind="advance", from_state=transition.source, to_state=transition.target,
                percent=transition.percent or "", actions=[a.describe() for a in transition.actions],
                evidence=_json(found), actor=actor, reason=reason)
            plan.in_progress = {"kind": "advance", "target": transition.target,
                                "percent": transition.percent, "next_action": 0,
                                "transition_id": row.pk, "started_at": timezone.now().isoformat()}
            plan.save(using=_db())
            results.append(_carry_out(plan, transition, row, executor, actor, reason))
            if target is None:
                return results


def _target(to: str | None) -> State | None:
    if to is None:
        return None
    try:
        return State(to)
    except ValueError:
        raise InvalidPlanRequestError(
            f"unknown state {to!r}; choose one of {', '.join(machine.ORDER)}. Nothing was changed."
        ) from None


def _reached(position: Position, target: State, percent: str | None) -> bool:
    if position.state != target:
        return False  # behind: go on; beyond: transition_to refuses with the reason
    return target != State.CANARY or percent is None or (
        position.percent is not None and float(position.percent) >= float(percent))


def _next(position: Position, percent: str | None) -> Transition:
    upcoming = machine.needs(position)
    if upcoming is None:
        raise ValueError(f"{position.state} is the last state")
    if percent is not None and upcoming.target == State.CANARY:
        return machine.transition_to(position, State.CANARY, percent)
    return upcoming


def _in_progress_transition(plan: Plan) -> Transition:
    progress = plan.in_progress or {}
    return machine.transition_to(_position(plan), State(progress["target"]), progress.get("percent"))


def _resume(plan: Plan, executor: ActionExecutor, actor: str, reason: str) -> StepResult:
    progress = plan.in_progress or {}
    if progress.get("kind") == "rollback":
        return _carry_out_rollback(plan, _rollback_in_progress(plan), executor, actor, reason)
    row = PlanTransition.objects.using(_db()).get(pk=progress["transition_id"])
    return _carry_out(plan, _in_progress_transition(plan), row, executor, actor, reason)


def _carry_out(plan: Plan, transition: Transition, row: PlanTransition, executor: ActionExecutor,
               actor: str, reason: str) -> StepResult:
    db = _db()
    start = int((plan.in_progress or {}).get("next_action", 0))
    for index in range(start, len(transition.actions)):
        executor.run(transition.actions[index], plan, actor=actor, reason=reason)
        plan.in_progress = {**(plan.in_progress or {}), "next_action": index + 1}
        plan.save(using=db, update_fields=["in_progress", "updated_at"])
        row.actions_done = index + 1
        row.save(using=db, update_fields=["actions_done"])
    checks = evidence.gather(plan, transition.checks)
    failed = machine.failed_checks(transition, checks)
    if failed:
        row.outcome, row.missing = "checks_pending", list(failed)
        row.save(using=db, update_fields=["outcome", "missing"])
        raise ChecksPendingError(
            f"{plan.capability} {transition.describe()}: the actions are done but the checks do not "
            f"hold yet: {'; '.join(failed)}. It stays {transition.source} with the step open; run "
            "`strangler migrate advance` again to re-check and finish, or `strangler migrate "
            "rollback` to undo it.")
    before = _position(plan)
    after = machine.after(before, transition)
    plan.state, plan.step, plan.percent = after.state, after.step, after.percent or ""
    plan.in_progress = None
    plan.save(using=db)
    audit = _audit("migrate", plan, before, after, actor, reason,
                   {"transition": transition.describe(), "requires": row.evidence,
                    "checks": _json(checks), "actions": row.actions})
    row.outcome, row.audit_id, row.finished_at = "done", audit.pk, timezone.now()
    row.save(using=db, update_fields=["outcome", "audit_id", "finished_at"])
    return StepResult(plan.capability, transition.describe(), "done", audit.pk,
                      tuple(row.actions))


def _record_refusal(plan: Plan, transition: Transition, verdict: Refusal,
                    found: dict[str, Evidence], actor: str, reason: str) -> None:
    PlanTransition.objects.using(_db()).create(
        plan=plan, kind="advance", from_state=transition.source, to_state=transition.target,
        percent=transition.percent or "", outcome="refused", missing=list(verdict.missing),
        evidence=_json(found), actor=actor, reason=reason, finished_at=timezone.now())


def _basis_points(position: Position) -> int:
    return round(float(position.percent) * 100) if position.percent else 0


def _audit(action: str, plan: Plan, before: Position, after: Position, actor: str, reason: str,
           facts: dict[str, Any]) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, capability=plan.capability,
                       from_mode=before.state, to_mode=after.state,
                       from_basis_points=_basis_points(before), to_basis_points=_basis_points(after),
                       version=routing.current_version(), reason=reason, evidence=facts)
    entry.save(using=_db())
    return entry


# -- rollback ---------------------------------------------------------------------------
def rollback(capability: str, *, actor: str, reason: str,
             executor: ActionExecutor) -> StepResult:
    """Back to safety now, no gate: routing (and ports) to the monolith, data kept.

    An interrupted step is rolled back the same way; the plan lands on ``backfilled``
    (or ``planned`` from ``backfilled``)."""
    reason = _require_reason(reason)
    with _locked(capability):
        plan = plan_for(capability)
        progress = plan.in_progress or {}
        if progress.get("kind") == "advance" and plan.state == State.PLANNED:
            # nothing routed yet: closing the step is the whole rollback (sync and rows stay)
            _close_open_row(plan, "rolled_back")
            plan.in_progress = None
            plan.save(using=_db())
            audit = _audit("migrate-rollback", plan, _position(plan), _position(plan), actor, reason,
                           {"closed": progress})
            return StepResult(capability, f"{plan.state} (open step closed)", "rolled_back",
                              audit.pk, ())
        try:
            transition = machine.rollback_of(_position(plan))
        except ValueError as exc:
            raise InvalidPlanRequestError(f"{capability}: {exc}; nothing was changed.") from exc
        if progress.get("kind") == "rollback":  # an interrupted rollback: finish it as begun
            transition = _rollback_in_progress(plan)
        if progress.get("kind") == "advance":
            # undo what the open step may have done too (e.g. a port switched before the crash)
            undo = _in_progress_transition(plan).rollback
            transition = replace(transition, actions=(
                *undo, *(a for a in transition.actions if a not in undo)))
        _close_open_row(plan, "rolled_back")
        if progress.get("kind") != "rollback":
            plan.in_progress = {"kind": "rollback", "target": transition.target, "next_action": 0,
                                "actions": [[a.kind, list(map(list, a.args))]
                                            for a in transition.actions],
                                "started_at": timezone.now().isoformat()}
            plan.save(using=_db())
        return _carry_out_rollback(plan, transition, executor, actor, reason)


def _rollback_in_progress(plan: Plan) -> Transition:
    progress = plan.in_progress or {}
    actions = tuple(Action(kind, tuple((k, v) for k, v in args))
                    for kind, args in progress.get("actions", []))
    return replace(machine.rollback_of(_position(plan)), actions=actions)


def _close_open_row(plan: Plan, outcome: str) -> None:
    progress = plan.in_progress or {}
    if progress.get("transition_id"):
        PlanTransition.objects.using(_db()).filter(pk=progress["transition_id"]).update(
            outcome=outcome, finished_at=timezone.now())


def _carry_out_rollback(plan: Plan, transition: Transition, executor: ActionExecutor, actor: str,
                        reason: str) -> StepResult:
    db = _db()
    start = int((plan.in_progress or {}).get("next_action", 0))
    for index in range(start, len(transition.actions)):
        executor.run(transition.actions[index], plan, actor=actor, reason=reason)
        plan.in_progress = {**(plan.in_progress or {}), "next_action": index + 1}
        plan.save(using=db, update_fields=["in_progress", "updated_at"])
    before = _position(plan)
    after = Position(transition.target)
    plan.state, plan.step, plan.percent, plan.in_progress = after.state, 0, "", None
    plan.save(using=db)
    actions = [a.describe() for a in transition.actions]
    audit = _audit("migrate-rollback", plan, before, after, actor, reason,
                   {"transition": transition.describe(), "actions": actions})
    PlanTransition.objects.using(db).create(
        plan=plan, kind="rollback", from_state=before.state, to_state=after.state,
        outcome="done", actions=actions, actions_done=len(actions), actor=actor, reason=reason,
        audit_id=audit.pk, finished_at=timezone.now())
    return StepResult(plan.capability, f"{before.state} → {after.state}", "done", audit.pk,
                      tuple(actions))


# -- write capabilities -----------------------------------------------------------------------
# The legacy routes a write capability carries (as ``strangler routes import-urlconf`` names
# them, each first in a capability of its own path: wallets.credit, wallets.debit, transfers).
WRITE_ROUTES = {"ledger.write": (("POST", "/api/v1/wallets/{wallet_id}/credit/"),
                                 ("POST", "/api/v1/wallets/{wallet_id}/debit/"),
                                 ("POST", "/api/v1/transfers/"))}


@dataclass(frozen=True)
class DeclareResult:
    capability: str
    version: int
    moved: tuple[str, ...]  # "POST /api/v1/transfers/ (from transfers)"
    added: tuple[str, ...]  # routes the table did not have yet


def declare_write_capability(capability: str, *, actor: str, reason: str) -> DeclareResult:
    """Create the write capability (on the monolith) and give it its legacy write routes.

    One capability for both doors: the proxy routes the writes by it, and the monolith's
    port reads its mode (``capability_flags.mode_of``), so one flip moves both. Routes the
    URLconf import put in capabilities of their own move here; refused, changing nothing,
    while any of those is routed anywhere but the monolith. Running it again changes nothing.
    """
    from strangler.control.routing.models import RouteRule
    from strangler.control.routing.values import DEFAULT_STICKY_KEY

    reason = _require_reason(reason)
    routes = WRITE_ROUTES.get(capability)
    if routes is None:
        raise InvalidPlanRequestError(f"{capability!r} is not a write capability (known: "
                                      f"{', '.join(sorted(WRITE_ROUTES))}); nothing was changed.")
    moved: list[str] = []
    added: list[str] = []

    def work() -> routing.ChangeResult:
        db = _db()
        cap, _ = Capability.objects.using(db).get_or_create(
            name=capability, defaults={"sticky_key": dict(DEFAULT_STICKY_KEY)})
        for method, path in routes:
            rule = (RouteRule.objects.using(db).select_related("capability")
                    .filter(method=method, path=path, host=None, header_name=None).first())
            if rule is None:
                RouteRule.objects.using(db).create(capability=cap, method=method, path=path, source="urlconf")
                added.append(f"{method} {path}")
            elif rule.capability_id != cap.pk:
                if rule.capability.mode != "monolith":
                    raise InvalidPlanRequestError(
                        f"{method} {path} belongs to {rule.capability.name}, which is in "
                        f"{rule.capability.mode}; roll it back to the monolith first. Nothing was changed.")
                moved.append(f"{method} {path} (from {rule.capability.name})")
                rule.capability = cap
                rule.save(using=db, update_fields=["capability"])
        published = routing.publish_version(actor, reason)
        entry = routing._audit("declare", actor, reason, published.version, capability=capability,
                               after=(cap.mode, cap.canary_basis_points))
        return routing.ChangeResult(published.version, entry.pk)

    result = routing._change(work)
    plan_for(capability)
    return DeclareResult(capability, result.version, tuple(moved), tuple(added))
