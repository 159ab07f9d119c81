"""Evidence a migration plan asks for, beyond the routing gate's (shadow, reconciliation).

Providers are ``(plan) -> Evidence`` and registered by name in one place, like the
routing gate's; ``gather`` merges both registries. They read the monolith's and the
extracted service's databases (URLs from strangler's settings) and the control
plane's own tables; each answers ``insufficient`` with what is missing rather than
raising when a database is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import psycopg
from django.db.models import Sum
from django.utils import timezone

from extracted.ledger_query.sync import sync_lag
from migrations.backfill.runner import capture_installed, handover
from migrations.plan import WRITE_CAPABILITIES
from strangler.config import format_duration, get_settings
from strangler.control.cutover.models import Plan, RouteTraffic
from strangler.control.routing import evidence as routing_evidence
from strangler.control.routing import services as routing
from strangler.control.routing.gates import Evidence, Verdict
from strangler.control.routing.models import Capability, RouteRule

PlanProvider = Callable[[Plan], Evidence]
MAX_SYNC_LAG_SECONDS = 5.0  # the extracted copy may trail the monolith by this much at a flip


def capability_evidence(plan: Plan) -> Evidence:
    found = Capability.objects.using(routing.control_db()).filter(name=plan.capability).exists()
    if found:
        return Evidence("capability", Verdict.OK, f"{plan.capability} is in the route table")
    how = (f"`strangler migrate declare {plan.capability}`" if plan.capability in WRITE_CAPABILITIES
           else "`strangler routes import-urlconf`")
    return Evidence("capability", Verdict.FAILED, f"{plan.capability} is not in the route table; {how}")


MIN_EFFECT_SAMPLES = 50  # shadowed writes whose side effects were compared, before a write flip
EFFECT_WINDOW = timedelta(hours=24)


def side_effect_evidence(plan: Plan) -> Evidence:
    """Did the shadowed writes' would-be events match the monolith's, and were enough compared?

    The shadow gate judges the responses; a write's events are what the rest of the system
    sees, so a write capability's flip also needs their parity (``shadow.side_effects``):
    at least ``MIN_EFFECT_SAMPLES`` writes compared in the last day, none different.
    """
    from strangler.control.shadow.models import ShadowObservation

    since = timezone.now() - EFFECT_WINDOW
    rows = ShadowObservation.objects.using(routing.control_db()).filter(
        capability=plan.capability, observed_at__gte=since)
    checked = rows.filter(effects__in=("parity", "diff")).count()
    diffs = rows.filter(effects="diff").count()
    unknown = rows.filter(effects="unknown").count()
    facts = {"checked": checked, "diffs": diffs, "unknown": unknown, "min_samples": MIN_EFFECT_SAMPLES}
    if diffs:
        return Evidence("side_effects", Verdict.FAILED,
                        f"{diffs} of {checked} shadowed writes would have published other events than "
                        "the monolith's (`strangler shadow report`)", facts)
    if checked < MIN_EFFECT_SAMPLES:
        extra = f"; {unknown} candidates sent no would-be events" if unknown else ""
        return Evidence("side_effects", Verdict.INSUFFICIENT,
                        f"{checked} of {MIN_EFFECT_SAMPLES} shadowed writes with side effects compared in "
                        f"the last 24 h{extra}", facts)
    return Evidence("side_effects", Verdict.OK,
                    f"{checked} shadowed writes, every one with the monolith's events", facts)


def capture_evidence(plan: Plan) -> Evidence:
    try:
        with psycopg.connect(get_settings().monolith_database_url, autocommit=True,
                             connect_timeout=5) as conn:
            on = capture_installed(conn)
    except psycopg.Error as exc:
        return Evidence("capture", Verdict.INSUFFICIENT, f"monolith database unreachable: {exc}")
    if on:
        return Evidence("capture", Verdict.OK, "capture triggers and outbox are installed")
    return Evidence("capture", Verdict.FAILED, "capture is not installed (`strangler acl install`)")


def backfill_evidence(plan: Plan) -> Evidence:
    if not plan.data_capability:
        return Evidence("backfill", Verdict.OK, "no data to backfill for this capability")
    s = get_settings()
    try:
        state = handover(s.monolith_database_url, s.ledger_database_url, plan.data_capability)
    except psycopg.Error as exc:
        return Evidence("backfill", Verdict.INSUFFICIENT, f"database unreachable: {exc}")
    verdict = Verdict.OK if state.complete else Verdict.INSUFFICIENT
    return Evidence("backfill", verdict, state.detail,
                    {"pending_below_mark": state.pending_below_mark})


def sync_lag_evidence(plan: Plan) -> Evidence:
    if not plan.data_capability:
        return Evidence("sync_lag", Verdict.OK, "no extracted data to keep in sync")
    try:
        with psycopg.connect(get_settings().ledger_database_url, autocommit=True,
                             connect_timeout=5) as conn:
            row = conn.execute("SELECT newest_event_at, caught_up_at FROM ledger_sync_state"
                               " WHERE id = 1").fetchone()
    except psycopg.Error as exc:
        return Evidence("sync_lag", Verdict.INSUFFICIENT, f"ledger database unreachable: {exc}")
    lag = sync_lag(row[0] if row else None, row[1] if row else None, timezone.now(),
                   MAX_SYNC_LAG_SECONDS)
    facts = {"lag_seconds": lag.seconds, "bound_seconds": MAX_SYNC_LAG_SECONDS}
    if lag.seconds is None:
        return Evidence("sync_lag", Verdict.INSUFFICIENT, "the ledger consumer has never run", facts)
    if lag.stale:
        return Evidence("sync_lag", Verdict.FAILED,
                        f"sync lag {lag.seconds:.1f} s > {MAX_SYNC_LAG_SECONDS:g} s", facts)
    return Evidence("sync_lag", Verdict.OK, f"sync lag {lag.seconds:.1f} s", facts)


def routing_applied_evidence(plan: Plan) -> Evidence:
    version = routing.current_version()
    live = [i for i in routing.instances() if i.live]
    lagging = [i.instance_id for i in live if i.version < version]
    if lagging:
        return Evidence("routing", Verdict.INSUFFICIENT,
                        f"proxies still on an older table than v{version}: {', '.join(lagging)}")
    return Evidence("routing", Verdict.OK,
                    f"{len(live)} live proxies serve v{version}" if live
                    else f"v{version} published; no live proxy instance to confirm it")


def legacy_traffic_evidence(plan: Plan) -> Evidence:
    """Has the monolith served none of the capability's routes for a whole window?

    Then its code for them can go. Clients may still call the legacy paths: the proxy
    keeps sending them to the extracted service (a compatibility shim) until
    `strangler routes unused` finds no calls at all. A minute bucket straddling the
    window's start counts as inside it: when unsure, the monolith was used.
    """
    db = routing.control_db()
    window = get_settings().decommission_window
    since = timezone.now() - window
    rules = list(RouteRule.objects.using(db).filter(capability__name=plan.capability)
                 .values_list("method", "path"))
    facts = {"window_seconds": window.total_seconds()}
    span = format_duration(window)
    first = RouteTraffic.objects.using(db).order_by("minute").first()
    if first is None or first.minute > since:
        return Evidence("legacy_traffic", Verdict.INSUFFICIENT,
                        f"the traffic record does not cover the {span} window yet", facts)
    hits = 0
    for method, path in rules:
        total = (RouteTraffic.objects.using(db)
                 .filter(minute__gt=since - timedelta(minutes=1), method=method, path=path)
                 .aggregate(total=Sum("monolith_hits"))["total"])
        hits += int(total or 0)
    facts["monolith_hits"] = hits
    if hits:
        return Evidence("legacy_traffic", Verdict.FAILED,
                        f"the monolith served {hits} requests on its routes in the last {span}",
                        facts)
    return Evidence("legacy_traffic", Verdict.OK,
                    f"the monolith served none of its routes in the last {span}", facts)


_PROVIDERS: dict[str, PlanProvider] = {
    "capability": capability_evidence,
    "side_effects": side_effect_evidence,
    "capture": capture_evidence,
    "backfill": backfill_evidence,
    "sync_lag": sync_lag_evidence,
    "routing": routing_applied_evidence,
    "legacy_traffic": legacy_traffic_evidence,
}


def register_provider(name: str, provider: PlanProvider) -> PlanProvider | None:
    """Register (or replace) a provider; returns the one it replaced."""
    previous = _PROVIDERS.get(name)
    _PROVIDERS[name] = provider
    return previous


def gather(plan: Plan, wanted: tuple[str, ...]) -> dict[str, Evidence]:
    """Evidence from every source named in ``wanted``: plan providers first, then the gate's."""
    found: dict[str, Evidence] = {}
    gate_sources = [n for n in wanted if n not in _PROVIDERS]
    if gate_sources:
        for item in routing_evidence.collect(plan.capability):
            found[item.source] = item
    for name in wanted:
        if name in _PROVIDERS:
            found[name] = _PROVIDERS[name](plan)
    return {name: found[name] for name in wanted if name in found}
