"""Executors of a plan's actions: the adapters around the pure state machine.

``ActionExecutor`` is the interface (one method per action kind, each idempotent: a
resumed step may run an action that had already completed before the crash).
``LiveActions`` is the real one: ACL install on the monolith, the backfill, routing
flips through ``routing.services`` (the gate is evaluated again there), and the
monolith's internal ports recorded on the plan.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from acl.errors import InstallError
from acl.install import install
from acl.spec import CAPTURED_TABLES
from migrations.backfill.runner import BackfillOptions, Progress, run_backfill
from migrations.plan import Action
from strangler.config import get_settings
from strangler.control.cutover.models import Plan
from strangler.control.routing import services as routing
from strangler.control.routing.models import Capability

FLIP_PROPAGATION_SECONDS = 5.0
PORT_OF = {"ledger": "ledger_reads"}  # the monolith's internal port a data capability moves
# Reference data an extracted service needs besides its own history (the ledger authenticates
# merchants by API key): published as ACL snapshot events, which the service's inbox absorbs
# however often they are re-published. The history itself is copied by the backfill.
REFERENCE_TABLES = {"ledger": ("accounts_merchant", "accounts_apikey")}


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
        url = get_settings().monolith_database_url
        if capture_complete(url):
            return  # re-installing takes every captured table's lock: under load, a deadlock risk
        for attempt in range(1, 6):
            try:
                install(url)
                return
            except InstallError:
                if attempt == 5:
                    raise
                time.sleep(0.5 * attempt)  # a deadlock with live writes: they win, we retry

    def backfill(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        if not plan.data_capability:
            return
        s = get_settings()
        publish_reference_data(plan.data_capability, self.progress)
        run_backfill(plan.data_capability, s.monolith_database_url, s.ledger_database_url,
                     self.backfill_options, self.progress)

    def flip(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        mode, percent = action.arg("mode"), action.arg("percent") or None
        cap = Capability.objects.using(routing.control_db()).get(name=plan.capability)
        if cap.mode == mode and (percent is None or cap.percent == f"{float(percent):.2f}"):
            return  # already there: a resumed step does not publish a needless version
        result = routing.flip(plan.capability, mode, percent=percent, reason=reason, actor=actor)
        # the step's checks ask whether every live proxy serves the new table: give them the
        # second they are promised, instead of failing the check the moment after the flip
        routing.wait_for_version(result.version, FLIP_PROPAGATION_SECONDS)

    def rollback_routing(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        cap = Capability.objects.using(routing.control_db()).get(name=plan.capability)
        if cap.mode != "monolith":
            routing.rollback(plan.capability, reason=reason, actor=actor)


def capture_complete(database_url: str) -> bool:
    """Is the capture trigger on every captured table (as ``acl install`` leaves it)?"""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT c.relname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = 'strangler_acl_capture' AND c.relname = ANY(%s)",
            ([spec.table for spec in CAPTURED_TABLES],)).fetchone()
    return bool(row and row[0] == len(CAPTURED_TABLES))


def publish_reference_data(data_capability: str, progress: Progress | None = None) -> dict[str, int]:
    """Publish the rows of the capability's reference tables as snapshot events; rows per table.

    Resumable and idempotent (``acl.backfill``): deterministic event ids from the row image,
    so a re-run re-publishes the same ids and consumers' inboxes drop them.
    """
    from acl.adapters.kafka_publisher import KafkaPublisher
    from acl.backfill import backfill as snapshot
    from acl.contracts import ContractRegistry, load_contracts
    from acl.ops import ensure_topics, event_topics

    tables = REFERENCE_TABLES.get(data_capability, ())
    if not tables:
        return {}
    s = get_settings()
    ensure_topics(s.kafka_bootstrap_servers, event_topics())
    publisher = KafkaPublisher(s.kafka_bootstrap_servers)
    contracts = ContractRegistry(load_contracts())
    done: dict[str, int] = {}
    try:
        for table in tables:
            def report(n: int, total: int, table: str = table) -> None:
                if progress is not None:
                    progress(table, n, total)

            done[table] = snapshot(s.monolith_database_url, table, publisher, contracts,
                                   restart=True, progress=report)
    finally:
        publisher.close()
    return done
