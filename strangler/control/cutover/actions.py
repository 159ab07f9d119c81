"""Executors of a plan's actions: the adapters around the pure state machine.

``ActionExecutor`` is the interface (one method per action kind, each idempotent: a
resumed step may run an action that had already completed before the crash).
``LiveActions`` is the real one: ACL install on the monolith, the backfill, routing
flips through ``routing.services`` (the gate is evaluated again there), the
monolith's internal ports recorded on the plan, and the write cutover's hand-over
(``extracted.ledger_query.handover``: hold, settle, hand the ids over, drain, release).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from acl.errors import InstallError
from acl.install import install
from acl.spec import CAPTURED_TABLES
from extracted.ledger_query import handover
from migrations.backfill.runner import BackfillOptions, Progress, run_backfill
from migrations.plan import Action
from strangler.config import get_settings
from strangler.control.cutover.errors import HandOverError
from strangler.control.cutover.models import Plan
from strangler.control.routing import services as routing
from strangler.control.routing.models import Capability

FLIP_PROPAGATION_SECONDS = 5.0
# the monolith's internal port a capability (or, failing that, its data capability) moves
PORT_OF = {"ledger.write": "ledger_writes", "ledger": "ledger_reads"}
# The hand-over's waits. The port reads the flag through a 1 s cache (capability_flags), and a
# write the proxy sent to the monolith just before the flip may still be running: settle waits
# out both before the monolith's outbox mark is taken (the drain re-checks the mark anyway).
SETTLE_SECONDS = 2.0
DRAIN_TIMEOUT_SECONDS = 120.0
HOLD_WAIT_MS = 5000  # how long the ledger holds a write during the hand-over before its 503
# Reference data an extracted service needs besides its own history (the ledger authenticates
# merchants by API key, and its write rules unlock a wallet once its customer's KYC is verified):
# published as ACL snapshot events, which the service's inbox absorbs however often they are
# re-published. The history itself is copied by the backfill.
REFERENCE_TABLES = {"ledger": ("accounts_merchant", "accounts_apikey", "accounts_kycsubmission")}


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
        port = PORT_OF.get(plan.capability) or PORT_OF.get(plan.data_capability, plan.capability)
        plan.ports = {**plan.ports, port: action.arg("to")}
        plan.save(using=routing.control_db(), update_fields=["ports", "updated_at"])


    # -- the write cutover's hand-over (migrations.plan.WRITE_CUTOVER / WRITE_ROLLBACK) ------------
    # Not abstract: only write capabilities' plans name them; each is idempotent.
    def copy_keys(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def hold(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def settle(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def hand_ids(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def drain_monolith(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def release(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def drain_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)

    def close(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        raise NotImplementedError(action.kind)


@dataclass
class LiveActions(ActionExecutor):
    backfill_options: BackfillOptions = field(default_factory=BackfillOptions)
    progress: Progress | None = None
    settle_seconds: float = SETTLE_SECONDS
    drain_timeout: float = DRAIN_TIMEOUT_SECONDS
    hold_wait_ms: int = HOLD_WAIT_MS
    say: Callable[[str], None] = field(default=lambda _line: None)

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
        result = routing.flip(plan.capability, mode, percent=percent, reason=reason, actor=actor,
                              by_plan=True)
        # the step's checks ask whether every live proxy serves the new table: give them the
        # second they are promised, instead of failing the check the moment after the flip
        routing.wait_for_version(result.version, FLIP_PROPAGATION_SECONDS)

    def rollback_routing(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        cap = Capability.objects.using(routing.control_db()).get(name=plan.capability)
        if cap.mode != "monolith":
            routing.rollback(plan.capability, reason=reason, actor=actor, by_plan=True)


    # -- the write hand-over -----------------------------------------------------------------------
    def copy_keys(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        s = get_settings()
        copied = handover.copy_keys(s.monolith_database_url, s.ledger_database_url)
        self.say(f"copied {copied} Idempotency-Key records from the monolith to the ledger")

    def hold(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        # returns once every ledger write that passed the gate has committed
        handover.hold_writes(get_settings().ledger_database_url,
                             f"{plan.capability} hand-over by {actor}", wait_ms=self.hold_wait_ms)
        self.say(f"ledger writes held (each waits up to {self.hold_wait_ms} ms, then 503)")

    def settle(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        version = routing.current_version()
        seen = routing.wait_for_version(version, FLIP_PROPAGATION_SECONDS)
        if seen.lagging:
            raise HandOverError(
                f"{plan.capability}: proxies {', '.join(seen.lagging)} still serve a table older than "
                f"v{version} after {seen.waited_s:.1f} s; the ledger's writes stay held. Fix or stop "
                "those proxies, then `strangler migrate advance` resumes here (or `rollback`).")
        time.sleep(self.settle_seconds)  # the ports' flag cache and writes routed before the flip
        self.say(f"v{version} served by every live proxy; waited {self.settle_seconds:g} s for the "
                 "ports' flag cache")

    def hand_ids(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        s = get_settings()
        to_ledger = action.arg("to") == "ledger"
        move = handover.hand_ids_to_ledger if to_ledger else handover.hand_ids_to_monolith
        next_id = move(s.monolith_database_url, s.ledger_database_url)
        self.say(f"the {'ledger' if to_ledger else 'monolith'}'s next posting id is {next_id}")

    def drain_monolith(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        s = get_settings()
        mark = handover.outbox_mark(s.monolith_database_url)
        drain = _wait(lambda: handover.monolith_drained(s.monolith_database_url, s.ledger_database_url,
                                                         mark), self.drain_timeout)
        if not drain.done:
            raise HandOverError(
                f"{plan.capability}: the monolith's last postings did not reach the ledger within "
                f"{self.drain_timeout:g} s: {drain.detail}. The ledger's writes stay held (clients get "
                "503 and retry); `strangler migrate advance` resumes here, `rollback` goes back.")
        self.say(drain.detail)

    def release(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        handover.release_writes(get_settings().ledger_database_url)
        self.say("ledger writes released")

    def drain_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        url = get_settings().ledger_database_url

        def synced() -> handover.Drain:
            left = handover.unsynced_postings(url)
            return handover.Drain(left == 0, f"{left} ledger postings not yet mirrored into the legacy "
                                             "tables (is `python -m monolith.wallets.ledger_sync` running?)")

        drain = _wait(synced, self.drain_timeout)
        if not drain.done:
            raise HandOverError(f"{plan.capability}: {drain.detail} after {self.drain_timeout:g} s. The "
                                "ledger's writes stay held; `strangler migrate rollback` resumes here.")
        self.say("the legacy tables mirror every ledger posting")

    def close(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
        handover.close_writes(get_settings().ledger_database_url,
                              f"{plan.capability} rolled back to the monolith by {actor}")
        self.say("ledger write path closed: the monolith writes")


def _wait(check: Callable[[], handover.Drain], timeout: float, interval: float = 0.2) -> handover.Drain:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found.done or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


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
