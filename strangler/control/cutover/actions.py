"""Executors of a plan's actions: the adapters around the pure state machine.

``ActionExecutor`` is the interface (one method per action kind, each idempotent: a
resumed step may run an action that had already completed before the crash).
``LiveActions`` is the real one: ACL install on the monolith, the backfill, routing
flips through ``routing.services`` (the gate is evaluated again there), and the
monolith's internal ports recorded on the plan.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from acl.install import install
from migrations.backfill.runner import BackfillOptions, Progress, run_backfill
from migrations.plan import Action
from strangler.config import get_settings
from strangler.control.cutover.models import Plan
from strangler.control.routing import services as routing
from strangler.control.routing.models import Capability

PORT_OF = {"ledger": "ledger_reads"}  # the monolith's internal port a data capability moves


class ActionExecutor(ABC):
    def run(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        handler = getattr(self, action.kind)
        handler(action, plan, actor=actor, reason=reason)

    @abstractmethod
    def enable_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None: ...

    @abstractmethod
    def backfill(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None: ...

    @abstractmethod
    def flip(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None: ...

    @abstractmethod
    def rollback_routing(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None: ...

    def switch_port(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        port = PORT_OF.get(plan.data_capability, plan.capability)
        plan.ports = {**plan.ports, port: action.arg("to")}
        plan.save(using=routing.control_db(), update_fields=["ports", "updated_at"])


@dataclass
class LiveActions(ActionExecutor):
    backfill_options: BackfillOptions = field(default_factory=BackfillOptions)
    progress: Progress | None = None

    def enable_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        install(get_settings().monolith_database_url)

    def backfill(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        if not plan.data_capability:
            return
        s = get_settings()
        run_backfill(plan.data_capability, s.monolith_database_url, s.ledger_database_url,
                     self.backfill_options, self.progress)

    def flip(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        mode, percent = action.arg("mode"), action.arg("percent") or None
        cap = Capability.objects.using(routing.control_db()).get(name=plan.capability)
        if cap.mode == mode and (percent is None or cap.percent == f"{float(percent):.2f}"):
            return  # already there: a resumed step does not publish a needless version
        routing.flip(plan.capability, mode, percent=percent, reason=reason, actor=actor)

    def rollback_routing(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        cap = Capability.objects.using(routing.control_db()).get(name=plan.capability)
        if cap.mode != "monolith":
            routing.rollback(plan.capability, reason=reason, actor=actor)
