"""Fixtures for the cutover plan tests: a route table, steerable evidence, a recording executor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from migrations.plan import Action
from strangler.control.cutover import evidence as plan_evidence
from strangler.control.cutover.actions import LiveActions
from strangler.control.cutover.models import Plan
from strangler.control.routing import evidence as gate_evidence
from strangler.control.routing import services
from strangler.control.routing.gates import Evidence, Verdict
from strangler.control.routing.urlconf import LegacyRoute

PLAN_SOURCES = ("capability", "capture", "backfill", "sync_lag", "routing", "legacy_traffic")
GATE_SOURCES = ("shadow", "reconciliation")


@pytest.fixture
def table() -> services.ImportResult:
    return services.import_urlconf(
        [LegacyRoute("GET", "/api/v1/wallets/{wallet_id}/transactions/"),
         LegacyRoute("GET", "/api/v1/payouts/")], actor="tester", reason="test fixture")


@dataclass
class Verdicts:
    """What each evidence source answers, settable per test; everything ok by default."""

    answers: dict[str, tuple[Verdict, str]] = field(default_factory=dict)

    def set(self, source: str, verdict: Verdict, detail: str) -> None:
        self.answers[source] = (verdict, detail)

    def answer(self, source: str) -> Evidence:
        verdict, detail = self.answers.get(source, (Verdict.OK, "fine"))
        return Evidence(source, verdict, detail)


@pytest.fixture
def verdicts() -> Iterator[Verdicts]:
    steer = Verdicts()
    def plan_provider(source: str) -> plan_evidence.PlanProvider:
        return lambda _plan: steer.answer(source)

    def gate_provider(source: str) -> gate_evidence.Provider:
        return lambda _capability: steer.answer(source)

    saved_plan = {n: plan_evidence.register_provider(n, plan_provider(n)) for n in PLAN_SOURCES}
    saved_gate = {n: gate_evidence._PROVIDERS[n] for n in GATE_SOURCES}
    for n in GATE_SOURCES:
        gate_evidence.register_provider(n, gate_provider(n))
    yield steer
    for n, provider in saved_plan.items():
        if provider is not None:
            plan_evidence.register_provider(n, provider)
    for n, saved in saved_gate.items():
        gate_evidence.register_provider(n, saved)


class CrashOnce(Exception):
    """Stands in for the process dying in the middle of an action."""


@dataclass
class RecordingActions(LiveActions):
    """Real routing flips and ports; sync and backfill only recorded; can crash once on a kind."""

    ran: list[str] = field(default_factory=list)
    crash_on: str | None = None

    def run(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        if action.kind == self.crash_on:
            self.crash_on = None
            raise CrashOnce(action.describe())
        self.ran.append(action.describe())
        super().run(action, plan, actor=actor, reason=reason)

    def enable_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        pass

    def backfill(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        pass


@pytest.fixture
def actions() -> RecordingActions:
    return RecordingActions()
