"""The journey of one capability, end to end: what ``strangler demo`` runs.

The ledger is strangled while the legacy client keeps calling the proxy the whole time
(reads and writes). First its read side — ``wallets.balance`` and ``wallets.transactions``,
both reconciled as ``ledger`` — then its writes, ``ledger.write`` (the proxy's credit, debit
and transfer routes and the monolith's own ledger port, one flag):

    legacy → backfill → catch-up → shadow → reconciliation xN → canary 1 / 5 / 25 / 50 %
           → extracted (flip + the monolith's internal port) → reconciliation
           → ledger.write declared → write shadow (dry runs) → write cutover (the hand-over:
             hold, flip, settle, hand the ids over, drain, release) → reconciliation
           → decommission (reads and writes, one window)

Every step goes through the same door an operator uses (``cutover.services.advance``
with the live executor), so the gates, the audit log and the evidence are the real
ones; the demo only lowers the thresholds that are about *time* (shadow samples,
runs in a row, the decommission window) so the journey fits in minutes, and says so.
The clock is accelerated for reconciliation only in the sense that the nightly runs
follow each other at once.

Invariants, checked as it goes (any broken one makes the run exit non-zero):
- the legacy client sees no error it would notice (no answer, or a 5xx), in any phase —
  the write hand-over included: a write the ledger holds waits, and answers 503 only past
  its bound (``HOLD_WAIT_MS``), which would count here;
- each advance is allowed by its evidence (a refusal stops the journey, naming it);
- reconciliation is clean before the first canary share, after the read extraction, and
  after the write cutover (the ledger writes; ``ledger_sync`` mirrors its postings into the
  monolith's legacy tables, and the two must agree);
- the legacy client's whole scenario, run again with the reads and then the writes on the
  ledger, cannot be told apart from its run against the monolith.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shadow.aggregate import Summary

CAPABILITIES = ("wallets.balance", "wallets.transactions")
WRITE_CAPABILITY = "ledger.write"
DATA_CAPABILITY = "ledger"
ACTOR = "strangler-demo"

# Thresholds the demo lowers, and why; exported before anything reads settings.
DEMO_ENV = {
    "STRANGLER_SHADOW_MIN_SAMPLES": "300",  # production 1000
    "STRANGLER_SHADOW_MIN_MATCH_RATE": "0.99",  # production 0.999 (needs ~3,800 clean samples)
    # production 50 ms. The candidate is timed beside the monolith (the secondary), like for
    # like, but here a dozen processes share two cores and p99 is whoever waited for a core.
    "STRANGLER_SHADOW_MAX_LATENCY_DELTA_MS": "3000",
    "STRANGLER_RECONCILE_CERTIFICATE_RUNS": "3",  # production 7 nights
    "STRANGLER_DECOMMISSION_WINDOW": "30s",  # production 60d
}

Say = Callable[[str], None]


@dataclass
class Phase:
    name: str
    started: float  # seconds since the journey began
    ended: float = 0.0
    routing: str = ""  # what the table said: "monolith", "shadow", "canary 25%", ...
    requests: int = 0
    client_errors: int = 0
    extracted_share: float | None = None  # measured: share of the ledger reads not on the monolith
    write_share: float | None = None  # measured: likewise, of the ledger writes (credit, debit, transfer)
    shadow_samples: int = 0
    match_rate: float | None = None
    reconciliation: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    completed: bool = False
    stopped_at: str = ""  # the transition a gate refused, when it did
    evidence: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # invariants that did not hold
    phases: list[Phase] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.completed and not self.broken

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "completed": self.completed, "stopped_at": self.stopped_at,
                "evidence": self.evidence, "broken": self.broken,
                "phases": [asdict(p) for p in self.phases],
                "timeline": [{"at_s": round(t, 1), "event": e} for t, e in self.timeline]}


class GateStop(Exception):
    """A gate refused an advance: the journey stops there, with the evidence."""

    def __init__(self, transition: str, missing: tuple[str, ...]) -> None:
        super().__init__(transition)
        self.transition = transition
        self.missing = missing


def demo_environment() -> dict[str, str]:
    """The demo's thresholds, unless the operator set them already (theirs win)."""
    return {name: os.environ.get(name, value) for name, value in DEMO_ENV.items()}


class Journey:
    """Runs the phases against a started stack; the demo command owns the stack's lifetime."""

    def __init__(self, *, say: Say, load: Any, shadow_timeout: float, dwell: float,
                 reconcile_runs: int, scenario: Callable[[], Any] | None = None,
                 baseline: Any = None) -> None:
        self.say = say
        self.scenario = scenario  # runs the legacy client's scenario through the proxy
        self.baseline = baseline  # its transcript before anything moved
        self.load = load  # strangler.demo.load.BackgroundLoad, already running
        self.shadow_timeout = shadow_timeout
        self.dwell = dwell
        self.reconcile_runs = reconcile_runs
        self.began = time.monotonic()
        self.outcome = Outcome()
        self._phase: Phase | None = None
        self._read_mark: tuple[int, int] = (0, 0)
        self._write_mark: tuple[int, int] = (0, 0)
        self._shadowed: tuple[str, ...] = CAPABILITIES  # whose shadow observations the phase counts
        self._last_flip = datetime.now(UTC)  # the monolith's last moment on a route that moved

    # ---- bookkeeping ------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.began

    def event(self, text: str) -> None:
        self.outcome.timeline.append((self.now(), text))
        self.say(f"[dim]+{self.now():6.1f}s[/]  {text}")

    def begin(self, name: str, routing: str, shadowed: tuple[str, ...] = CAPABILITIES) -> Phase:
        self.end_phase()
        phase = Phase(name, self.now(), routing=routing)
        self._phase = phase
        self.outcome.phases.append(phase)
        self.load.enter(name)
        self._read_mark, self._write_mark = _read_hits(), _write_hits()
        self._shadowed = shadowed
        self._shadow_since = datetime.now(UTC)
        return phase

    def end_phase(self) -> None:
        phase = self._phase
        if phase is None:
            return
        phase.ended = self.now()
        booked = self.load.phases.get(phase.name)
        if booked is not None:
            phase.requests, phase.client_errors = booked.requests, booked.client_visible_errors
        phase.extracted_share = _share(_read_hits(), self._read_mark)
        phase.write_share = _share(_write_hits(), self._write_mark)
        phase.shadow_samples, phase.match_rate = _shadow_summary(self._shadowed, self._shadow_since)
        if phase.client_errors:
            statuses = ", ".join(f"{n} x {status or 'no answer'}" for status, n in sorted(
                booked.errors.items()) if status == 0 or status >= 500) if booked else ""
            self.outcome.broken.append(f"{phase.client_errors} client-visible errors during {phase.name}"
                                       + (f" ({statuses})" if statuses else ""))
        self._phase = None

    def check_load(self) -> None:
        if self.load.failure is not None:
            raise RuntimeError(f"the legacy client's load stopped: {self.load.failure}")

    # ---- the journey ------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            self._legacy()
            self._backfill()
            self._shadow()
            self._reconcile("reconciliation", self.reconcile_runs)
            self._canary()
            self._extracted()
            self._write_backfill()
            self._write_shadow()
            self._write_cutover()
            self._decommission()
            self.outcome.completed = True
        except GateStop as stop:
            self.outcome.stopped_at = stop.transition
            self.outcome.evidence = list(stop.missing)
            self.event(f"[bold red]stopped at the gate[/]: {stop.transition}")
            for line in stop.missing:
                self.event(f"  evidence: {line}")
        finally:
            self.end_phase()
        return self.outcome

    def _legacy(self) -> None:
        from strangler.control.routing import services as routing
        from strangler.control.routing.urlconf import legacy_routes

        self.begin("legacy", "monolith")
        result = routing.import_urlconf(legacy_routes(), actor=ACTOR,
                                        reason="demo: every legacy route starts on the monolith")
        self.event(f"route table: {len(result.added)} legacy routes imported; all on the monolith")
        self._wait(self.dwell, "legacy client against the proxy, monolith only")

    def _backfill(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from strangler.control.cutover.actions import LiveActions

        self.begin("backfill", "monolith")
        with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                      transient=True) as bar:
            tasks: dict[str, Any] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=total)
                bar.update(tasks[step], completed=done, total=total)

            executor = LiveActions(progress=progress)
            for capability in CAPABILITIES:
                self._advance(capability, executor, "backfilled",
                              "demo: copy the ledger's history, then follow the event stream",
                              retry_checks_for=120.0)
        self.event("backfill done: history copied by key range; live events caught up (sync lag ok)")

    def _shadow(self) -> None:
        from strangler.control.cutover.actions import LiveActions
        from strangler.control.routing.evidence import collect

        self.begin("shadow", "shadow")
        for capability in CAPABILITIES:
            self._advance(capability, LiveActions(), "shadow", "demo: compare before moving anything")
        self.event("shadow: clients still answered by the monolith; copies compared with the ledger")
        deadline = time.monotonic() + self.shadow_timeout
        while True:
            self.check_load()
            found = {c: next(e for e in collect(c) if e.source == "shadow") for c in CAPABILITIES}
            if all(e.verdict.value == "ok" for e in found.values()):
                for capability, e in found.items():
                    self.event(f"shadow {capability}: {e.detail}")
                return
            failed = [f"{c}: {e.detail}" for c, e in found.items() if e.verdict.value == "failed"]
            if failed or time.monotonic() > deadline:
                self._show_differences(CAPABILITIES)
                # the gate decides, and its refusal is the evidence the journey stops with;
                # a capability whose evidence failed goes first, so that is what stops it
                for capability in sorted(CAPABILITIES, key=lambda c: found[c].verdict.value != "failed"):
                    self._advance(capability, LiveActions(), "canary",
                                  "demo: the first canary share, if shadow parity holds")
                return
            time.sleep(2.0)

    def _show_differences(self, capabilities: tuple[str, ...]) -> None:
        """What the shadow diff found, by path and kind, as the operator's first question is."""
        summary = _shadow_aggregate(capabilities, self._shadow_since)
        self.event(f"shadow outcomes: {dict(summary.outcomes)}")
        for group in summary.top_groups(5):
            sample = group.samples[0] if group.samples else {}
            self.event(f"  differs: {group.capability} {group.path} {group.kind} x{group.count}"
                       f" e.g. {json.dumps(sample, default=str)[:300]}")

    def _reconcile(self, phase: str, runs: int, routing: str | None = None,
                   before: Callable[[], None] | None = None) -> None:
        from strangler.control.reconciliation import services as reconciliation

        self.begin(phase, routing or self._routing_now())
        if before is not None:
            before()
        for n in range(1, runs + 1):
            run = reconciliation.start_run(DATA_CAPABILITY, requested_by=ACTOR)
            run = reconciliation.execute_run(run.pk)
            counts = ", ".join(f"{k} {v}" for k, v in (run.counts or {}).items()) or "no discrepancies"
            pending = any(k.startswith("pending:") for k in run.counts or {})
            self.event(f"reconciliation run {run.pk} ({n}/{runs}, nightly clock accelerated): "
                       f"{run.status} ({counts})" + ("; pending: rows written inside the lag window, "
                                                     "not yet on the other side, so not breaks" if pending
                                                     else ""))
            if self._phase is not None:
                self._phase.reconciliation = f"run {run.pk}: {run.status}"
        cert = reconciliation.certificate(DATA_CAPABILITY)
        self.event(f"parity certificate {DATA_CAPABILITY}: {cert.verdict.upper()}: {cert.reason}")

    def _canary(self) -> None:
        from migrations.plan import CANARY_STEPS
        from strangler.control.cutover.actions import LiveActions

        for share in CANARY_STEPS:
            self.begin(f"canary {share}%", f"canary {share}%")
            for capability in CAPABILITIES:
                self._advance(capability, LiveActions(), "canary",
                              f"demo: {share}% of the traffic to the ledger service", percent=share)
            self.event(f"canary {share}%: that share of clients' ledger reads served by the ledger service")
            self._wait(self.dwell, f"canary {share}%")

    def _extracted(self) -> None:
        from strangler.control.cutover.actions import LiveActions

        self.begin("extracted", "extracted")
        for capability in CAPABILITIES:
            self._advance(capability, LiveActions(), "extracted",
                          "demo: every ledger read served by the ledger service")
        self._last_flip = datetime.now(UTC)
        self.event("extracted: all ledger reads on the ledger service; the monolith's internal port "
                   "ledger_reads recorded as switched (the monolith does not read that record yet)")
        self._wait(self.dwell, "extracted")
        self._same_for_clients("ledger reads extracted")
        self._reconcile("reconciliation after extraction", 1)

    # ---- the writes: ledger.write, shadow (dry runs) → extracted (the hand-over) ------------------
    def _write_backfill(self) -> None:
        from strangler.control.cutover import services
        from strangler.control.cutover.actions import LiveActions

        self.begin("write backfill", "writes monolith")
        declared = services.declare_write_capability(
            WRITE_CAPABILITY, actor=ACTOR, reason="demo: one flag for the ledger's writes, both doors")
        self.event(f"{WRITE_CAPABILITY} declared (route table v{declared.version}): "
                   + "; ".join(declared.moved + declared.added)
                   + " — and the monolith's own ledger port (payouts) reads the same flag")
        self._advance(WRITE_CAPABILITY, LiveActions(), "backfilled",
                      "demo: the ledger's history is there already; the step checks it",
                      retry_checks_for=120.0)

    def _write_shadow(self) -> None:
        from strangler.control.cutover import evidence, services
        from strangler.control.cutover.actions import LiveActions

        writes = (WRITE_CAPABILITY,)
        self.begin("write shadow", "writes shadow", shadowed=writes)
        self._advance(WRITE_CAPABILITY, LiveActions(), "shadow",
                      "demo: the ledger dry-runs every write beside the monolith")
        self.event("write shadow: the monolith still writes; the ledger runs a copy of each write as a "
                   "dry run (rolled back) and its answer and would-be events are compared")
        deadline = time.monotonic() + self.shadow_timeout
        wanted = ("shadow", "side_effects")
        while True:
            self.check_load()
            found = evidence.gather(services.plan_for(WRITE_CAPABILITY), wanted)
            if all(found[name].verdict.value == "ok" for name in wanted):
                for name in wanted:
                    self.event(f"{name} {WRITE_CAPABILITY}: {found[name].detail}")
                return
            failed = [name for name in wanted if found[name].verdict.value == "failed"]
            if failed or time.monotonic() > deadline:
                self._show_differences(writes)
                # the gate decides; its refusal is the evidence the journey stops with
                self._advance(WRITE_CAPABILITY, LiveActions(), "extracted",
                              "demo: the ledger takes the writes, if write shadow parity holds")
                return
            time.sleep(2.0)

    def _write_cutover(self) -> None:
        from strangler.control.cutover.actions import HOLD_WAIT_MS, LiveActions

        self.begin("write cutover", "writes extracted")
        held: list[float] = []

        def hand_over(line: str) -> None:
            if line.startswith(("ledger writes held", "ledger writes released")):
                held.append(time.monotonic())
            self.event(f"  hand-over: {line}")

        self._advance(WRITE_CAPABILITY, LiveActions(say=hand_over), "extracted",
                      "demo: the ledger takes the writes (the hand-over)")
        self._last_flip = datetime.now(UTC)
        if len(held) == 2 and self._phase is not None:
            note = (f"ledger writes held {held[1] - held[0]:.1f} s during the hand-over (each write "
                    f"waits up to {HOLD_WAIT_MS / 1000:g} s, then 503)")
            self._phase.notes.append(note)
            self.event(note)
        self.event("writes extracted: the ledger is the source of truth for credits, debits, transfers "
                   "and the monolith's payouts; ledger_sync mirrors its postings into the legacy tables")
        self._wait(self.dwell, "writes on the ledger")
        self._same_for_clients("ledger reads and writes extracted")
        self._reconcile("reconciliation after write cutover", 1, routing="all extracted",
                        before=self._mirrored)

    def _mirrored(self) -> None:
        """The ledger writes now: ``ledger_sync`` must keep the legacy tables in step with it."""
        from strangler.config import get_settings

        mirror = _wait_for_mirror(get_settings().ledger_database_url, timeout=60.0, check=self.check_load)
        if mirror.left:
            self.outcome.broken.append(f"ledger_sync left {mirror.left} of the ledger's postings "
                                       f"unmirrored for {mirror.waited_s:.0f} s")
            self.event(f"[bold red]ledger_sync: {mirror.left} of the ledger's postings not mirrored "
                       f"into the legacy tables after {mirror.waited_s:.0f} s[/]")
            return
        if not mirror.written:
            self.outcome.broken.append("the ledger wrote no posting after the write cutover")
        self.event(f"ledger_sync: every one of the {mirror.written:,} postings the ledger had written "
                   f"is mirrored into the monolith's legacy tables (caught up in {mirror.waited_s:.1f} s; "
                   f"{mirror.newer} newer ones on their way, the clients keep writing)")

    def _same_for_clients(self, what: str) -> None:
        """The legacy client's whole scenario again, now that the ledger answers: a client must
        not be able to tell the two runs apart (ids and times masked, as in the e2e tests)."""
        from legacy_client.transcript import first_difference

        if self.scenario is None or self.baseline is None:
            return
        again = self.scenario()
        difference = first_difference(self.baseline, again)
        if difference is None and again.ok:
            self.event(f"legacy client's scenario through the proxy, {what}: "
                       f"{len(again.exchanges)} requests, identical to the first run")
            return
        self.outcome.broken.append(f"the legacy client's scenario differs once {what}: "
                                   + (difference or "; ".join(str(f) for f in again.failures))[:1500])
        self.event(f"[bold red]the legacy client's scenario differs once {what}[/]")

    def _decommission(self) -> None:
        from strangler.config import get_settings
        from strangler.control.cutover.actions import LiveActions

        window = get_settings().decommission_window
        self.begin("decommission", "all extracted")
        # The monolith's last hits on the moved routes are in the minute bucket of the last flip,
        # and the evidence counts a bucket straddling the window's start: wait for a whole window
        # after that bucket's end (the reads' window is inside the writes').
        bucket_end = self._last_flip.replace(second=0, microsecond=0) + timedelta(minutes=1)
        wait = (bucket_end + window - datetime.now(UTC)).total_seconds() + 2
        if wait > 0:
            self.event(f"decommission: waiting {wait:.0f}s more for a whole {window.total_seconds():.0f}s "
                       "window in which the monolith serves none of the ledger routes")
            self._wait(wait, "decommission window")
        for capability in (*CAPABILITIES, WRITE_CAPABILITY):
            self._advance(capability, LiveActions(), "decommissioned",
                          "demo: the monolith's code for these routes can go",
                          retry_checks_for=90.0)
        self.event("decommissioned: the monolith's ledger code (reads and writes) is unused; the legacy "
                   "paths stay as a compatibility shim to the ledger service until clients stop calling them")

    # ---- helpers ----------------------------------------------------------------------------
    def _advance(self, capability: str, executor: Any, to: str, reason: str,
                 percent: str | None = None, retry_checks_for: float = 30.0) -> None:
        from strangler.control.cutover import services
        from strangler.control.cutover.errors import (
            ChecksPendingError,
            HandOverError,
            PlanRefusedError,
        )

        deadline = time.monotonic() + retry_checks_for
        while True:
            self.check_load()
            try:
                for step in services.advance(capability, actor=ACTOR, reason=reason,
                                             executor=executor, to=to, percent=percent):
                    self.event(f"{capability}: {step.transition} ({step.outcome}, audit #{step.audit_id})")
                return
            except PlanRefusedError as refused:
                raise GateStop(f"{capability} → {to}{f' {percent}%' if percent else ''}",
                               refused.missing) from refused
            except HandOverError as failed:  # the step stays open, writes held: an operator's call
                raise GateStop(f"{capability} → {to} (the hand-over)", (str(failed),)) from failed
            except ChecksPendingError as pending:
                if time.monotonic() > deadline:
                    raise GateStop(f"{capability} → {to} (checks after the step)",
                                   (str(pending),)) from pending
                time.sleep(2.0)

    def _wait(self, seconds: float, what: str) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check_load()
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))

    def _routing_now(self) -> str:
        from strangler.control.routing import services as routing
        from strangler.control.routing.models import Capability

        cap = Capability.objects.using(routing.control_db()).filter(name=CAPABILITIES[-1]).first()
        if cap is None:
            return "monolith"
        return f"canary {cap.percent}%" if cap.mode == "canary" else str(cap.mode)


def _share(now: tuple[int, int], mark: tuple[int, int]) -> float | None:
    """Of the hits since ``mark``, the share not served by the monolith; None without hits."""
    hits = now[0] - mark[0]
    return 1 - (now[1] - mark[1]) / hits if hits > 0 else None


def _route_hits(routes: list[tuple[str, str]]) -> tuple[int, int]:
    """(all hits, monolith hits) ever recorded on ``routes``, as proxies flushed them."""
    from django.db.models import Sum

    from strangler.control.cutover.models import RouteTraffic
    from strangler.control.routing import services as routing

    db = routing.control_db()
    hits = monolith = 0
    for method, path in routes:
        found = RouteTraffic.objects.using(db).filter(method=method, path=path).aggregate(
            hits=Sum("hits"), monolith=Sum("monolith_hits"))
        hits += int(found["hits"] or 0)
        monolith += int(found["monolith"] or 0)
    return hits, monolith


def _read_hits() -> tuple[int, int]:
    from strangler.control.routing import services as routing
    from strangler.control.routing.models import RouteRule

    rules = RouteRule.objects.using(routing.control_db()).filter(capability__name__in=CAPABILITIES)
    return _route_hits(list(rules.values_list("method", "path")))


def _write_hits() -> tuple[int, int]:
    """The ledger's write routes, by path: the same before and after ``ledger.write`` owns them."""
    from strangler.control.cutover.services import WRITE_ROUTES

    return _route_hits(list(WRITE_ROUTES[WRITE_CAPABILITY]))


@dataclass(frozen=True)
class Mirror:
    written: int  # postings the ledger had written when the wait began
    left: int  # of those, not mirrored into the legacy tables when it ended
    newer: int  # written since, still being mirrored
    waited_s: float


def _wait_for_mirror(ledger_url: str, *, timeout: float, check: Callable[[], None]) -> Mirror:
    """Wait until ``ledger_sync`` has mirrored every posting the ledger had written when called
    (the clients keep writing, so the newest are always a moment behind), or ``timeout``."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(transaction_id), 0), count(*) FROM ledger_write_event"
                           ).fetchone()
        mark, written = (int(row[0]), int(row[1])) if row else (0, 0)
        while True:
            check()
            row = conn.execute("SELECT count(*) FILTER (WHERE synced_at IS NULL AND transaction_id <= %s),"
                               " count(*) FILTER (WHERE transaction_id > %s) FROM ledger_write_event",
                               (mark, mark)).fetchone()
            left, newer = (int(row[0]), int(row[1])) if row else (0, 0)
            waited = time.monotonic() - started
            if left == 0 or waited > timeout:
                return Mirror(written, left, newer, waited)
            time.sleep(0.2)


def _shadow_aggregate(capabilities: tuple[str, ...], since: datetime) -> Summary:
    """The shadow store's observations of ``capabilities`` since ``since``, aggregated once."""
    from shadow.aggregate import aggregate
    from strangler.control.shadow.store import DjangoObservationStore

    store = DjangoObservationStore()
    return aggregate([o for c in capabilities for o in store.since(c, since - timedelta(seconds=1))])


def _shadow_summary(capabilities: tuple[str, ...], since: datetime) -> tuple[int, float | None]:
    summary = _shadow_aggregate(capabilities, since)
    return summary.total, summary.match_rate


def write_reports(outcome: Outcome, html_path: Path) -> Path:
    """The HTML report and a JSON twin next to it; returns the JSON path."""
    from strangler.demo.report import render_html

    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(outcome), encoding="utf-8")
    json_path = html_path.with_suffix(".json")
    json_path.write_text(json.dumps(outcome.as_json(), indent=2), encoding="utf-8")
    return json_path
