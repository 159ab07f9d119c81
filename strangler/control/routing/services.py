"""The one way routing state changes: flip, rollback, kill switches, URLconf import, shims, publish.

The CLI, the API and the admin all call these. Each change runs in one transaction
on the control database, serialised by an advisory lock: it edits the state, builds
the whole table (refused if invalid, e.g. overlapping rules, and then nothing was
changed), stores it as the next ``RouteTableVersion``, writes the audit entry and
issues ``NOTIFY strangler_routes, '<version>'``, which PostgreSQL delivers at commit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from routing_proxy.control_client import CHANNEL, table_from_snapshot
from routing_proxy.errors import RouteTableError
from strangler.control.routing import evidence
from strangler.control.routing.errors import (
    GateRefusedError,
    InvalidRequestError,
    TableRejectedError,
    UnknownCapabilityError,
)
from strangler.control.routing.gates import GateResult, evaluate_gate
from strangler.control.routing.models import (
    AuditEntry,
    Capability,
    GlobalSwitch,
    ProxyInstance,
    RouteRule,
    RouteTableVersion,
)
from strangler.control.routing.urlconf import LegacyRoute, capability_for
from strangler.control.routing.values import (
    DEFAULT_STICKY_KEY,
    parse_mode,
    parse_percent,
    parse_route,
    parse_upstream_path,
)

_LOCK_KEY = 0x5354524E  # "STRN": one advisory lock serialises every published change


@dataclass(frozen=True)
class ChangeResult:
    version: int
    audit_id: int
    gate: GateResult | None = None


def control_db() -> str:
    return router.db_for_write(Capability) or "default"


# -- publishing -------------------------------------------------------------------------
def snapshot() -> dict[str, Any]:
    db = control_db()
    switch = GlobalSwitch.objects.using(db).filter(pk=1).first()
    capabilities = []
    for cap in Capability.objects.using(db).prefetch_related("rules").order_by("name"):
        rules = [{"method": r.method, "path": r.path, "host": r.host,
                  "header": [r.header_name, r.header_value or ""] if r.header_name else None,
                  **({"upstream_path": r.upstream_path} if r.upstream_path else {})}
                 for r in cap.rules.all()]
        if not rules:
            continue  # a capability without routes routes nothing; the table refuses it
        capabilities.append({
            "name": cap.name, "mode": cap.mode, "canary_basis_points": cap.canary_basis_points,
            "sticky_key": cap.sticky_key, "upstream": cap.upstream, "fallback": cap.fallback,
            "killed": cap.killed, "rules": rules})
    return {"kill_switch": bool(switch and switch.kill_switch), "capabilities": capabilities}


def current_version() -> int:
    latest = RouteTableVersion.objects.using(control_db()).order_by("-version").first()
    return latest.version if latest else 0


def publish_version(actor: str, reason: str) -> RouteTableVersion:
    """Store the current state as the next version and notify proxies. Call inside ``_change``."""
    db = control_db()
    version = current_version() + 1
    data = snapshot()
    try:
        table_from_snapshot(version, data)
    except RouteTableError as exc:
        raise TableRejectedError(f"{exc}. Nothing was changed; version {version - 1} still "
                                 "serves.") from exc
    published = RouteTableVersion.objects.using(db).create(
        version=version, snapshot=data, actor=actor, reason=reason)
    with connections[db].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(version)])
    return published


def _change(work: Callable[[], ChangeResult]) -> ChangeResult:
    db = control_db()
    with transaction.atomic(using=db):
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        return work()


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidRequestError("a reason is required for every change (--reason \"...\"); "
                                  "nothing was changed.")
    return reason.strip()


def _capability(name: str) -> Capability:
    db = control_db()
    try:
        return Capability.objects.using(db).select_for_update().get(name=name)
    except Capability.DoesNotExist:
        known = list(Capability.objects.using(db).values_list("name", flat=True))
        raise UnknownCapabilityError(name, known) from None


def _audit(action: str, actor: str, reason: str, version: int, *, capability: str = "",
           before: tuple[str, int] = ("", 0), after: tuple[str, int] = ("", 0),
           gate: GateResult | None = None, forced: bool = False,
           details: dict[str, Any] | None = None) -> AuditEntry:
    """``details``: what changed, for a change that is not a mode (a shim's paths)."""
    entry = AuditEntry(actor=actor, action=action, capability=capability, from_mode=before[0],
                       to_mode=after[0], from_basis_points=before[1], to_basis_points=after[1],
                       version=version, reason=reason, forced=forced,
                       evidence=gate.as_json() if gate else (details or {}))
    entry.save(using=control_db())
    return entry


# -- changes ----------------------------------------------------------------------------
def flip(name: str, mode: str, *, reason: str, actor: str, percent: Any = None,
         force: bool = False, sticky_key: dict[str, str] | None = None,
         by_plan: bool = False) -> ChangeResult:
    """Move a capability to ``mode`` (a canary at ``percent``), if its gate holds or ``force``.

    ``by_plan``: the cutover plan's own step, which carries the hand-over a direct change lacks
    (``register_direct_change_guard``)."""
    reason = _require_reason(reason)
    vetoes = [] if by_plan else _direct_vetoes(name, "flip")
    if vetoes and not force:
        raise InvalidRequestError(f"{name} cannot be flipped directly: {'; '.join(vetoes)}. Nothing "
                                  "was changed. In an emergency pass --force (audited as forced).")
    target = parse_mode(mode)
    if target == "canary":
        if percent is None:
            raise InvalidRequestError("a canary needs a percentage (--percent 5.25); nothing was "
                                      "changed.")
        basis_points = parse_percent(percent)
    elif percent is not None:
        raise InvalidRequestError(f"a percentage applies only to mode canary, not {target}; "
                                  "nothing was changed.")
    else:
        basis_points = 0

    def work() -> ChangeResult:
        cap = _capability(name)
        gate = evaluate_gate(cap.name, target, basis_points, evidence.collect(cap.name))
        if not gate.holds and not force:
            raise GateRefusedError(
                f"the gate of {cap.name} does not hold for {target}"
                f"{f' {basis_points / 100:.2f}%' if target == 'canary' else ''}: {gate.summary()}. "
                f"Nothing was changed; it stays {cap.mode}. Gather the evidence, or override with "
                "--force and a reason (audited as forced).", gate)
        before = (cap.mode, cap.canary_basis_points)
        cap.mode, cap.canary_basis_points = target, basis_points
        if sticky_key is not None:
            cap.sticky_key = sticky_key
        if target == "canary" and not cap.sticky_key:
            cap.sticky_key = dict(DEFAULT_STICKY_KEY)
        cap.save(using=control_db())
        published = publish_version(actor, reason)
        entry = _audit("flip", actor, reason, published.version, capability=cap.name,
                       before=before, after=(target, basis_points), gate=gate,
                       forced=force and (not gate.holds or bool(vetoes)))
        return ChangeResult(published.version, entry.pk, gate)

    try:
        return _change(work)
    except GateRefusedError as refused:
        # Audited after the change's transaction rolled back: the attempt, who, why and the
        # evidence that refused it are part of the record; nothing else changed.
        current = Capability.objects.using(control_db()).get(name=name)
        _audit("flip_refused", actor, reason, current_version(), capability=name,
               before=(current.mode, current.canary_basis_points), after=(target, basis_points),
               gate=refused.gate)
        raise


RollbackGuard = Callable[[str], str | None]  # capability -> why the monolith cannot take it back
_ROLLBACK_GUARDS: list[RollbackGuard] = []
# (capability, or None for the global switch; action: flip | rollback | kill) -> why a direct
# change is unsafe. The cutover plans own some capabilities' moves (the write hand-over).
DirectChangeGuard = Callable[[str | None, str], str | None]
_DIRECT_GUARDS: list[DirectChangeGuard] = []


def register_direct_change_guard(guard: DirectChangeGuard) -> None:
    """Another app's veto on direct flips, rollbacks and kill switches (not on its own steps)."""
    if guard not in _DIRECT_GUARDS:
        _DIRECT_GUARDS.append(guard)


def _direct_vetoes(name: str | None, action: str) -> list[str]:
    return [why for guard in _DIRECT_GUARDS if (why := guard(name, action))]


def register_rollback_guard(guard: RollbackGuard) -> None:
    """Another app's veto on rollbacks (cutover: a decommissioned capability's code is gone)."""
    if guard not in _ROLLBACK_GUARDS:
        _ROLLBACK_GUARDS.append(guard)


def rollback(name: str, *, reason: str, actor: str, force: bool = False,
             by_plan: bool = False) -> ChangeResult:
    """Return a capability to the monolith now: no gate. Refused only where the monolith can no
    longer serve it, or only its plan can move it safely (a guard says why); ``force`` overrides
    that, audited as forced."""
    reason = _require_reason(reason)
    vetoes = [why for guard in _ROLLBACK_GUARDS if (why := guard(name))]
    if not by_plan:
        vetoes += _direct_vetoes(name, "rollback")
    if vetoes and not force:
        raise InvalidRequestError(
            f"{name} cannot go back to the monolith: {'; '.join(vetoes)}. Nothing was changed. If the "
            "monolith's code for it is deployed again, pass --force (audited as forced).")

    def work() -> ChangeResult:
        cap = _capability(name)
        before = (cap.mode, cap.canary_basis_points)
        cap.mode, cap.canary_basis_points = "monolith", 0
        cap.save(using=control_db())
        published = publish_version(actor, reason)
        entry = _audit("rollback", actor, reason, published.version, capability=cap.name,
                       before=before, after=("monolith", 0), forced=bool(vetoes))
        return ChangeResult(published.version, entry.pk)

    return _change(work)


def set_kill_switch(name: str | None, on: bool, *, reason: str, actor: str,
                    force: bool = False) -> ChangeResult:
    """Send one capability (or, with ``name=None``, every capability) to the monolith, or undo it.

    Refused where sending it to the monolith at once is unsafe (a guard says why, e.g. an
    extracted write capability), unless ``force``, audited as forced."""
    reason = _require_reason(reason)
    action = "kill" if on else "unkill"
    vetoes = _direct_vetoes(name, "kill") if on else []
    if vetoes and not force:
        raise InvalidRequestError(f"the kill switch{f' of {name}' if name else ''} would be unsafe: "
                                  f"{'; '.join(vetoes)}. Nothing was changed. If there is no other "
                                  "way, pass --force (audited as forced).")

    def work() -> ChangeResult:
        db = control_db()
        if name is None:
            switch, _ = GlobalSwitch.objects.using(db).select_for_update().get_or_create(pk=1)
            before = ("killed" if switch.kill_switch else "live", 0)
            switch.kill_switch = on
            switch.save(using=db)
            label = ""
        else:
            cap = _capability(name)
            before = ("killed" if cap.killed else "live", 0)
            cap.killed = on
            cap.save(using=db)
            label = cap.name
        published = publish_version(actor, reason)
        entry = _audit(action, actor, reason, published.version, capability=label, before=before,
                       after=("killed" if on else "live", 0), forced=bool(vetoes))
        return ChangeResult(published.version, entry.pk)

    return _change(work)


@dataclass(frozen=True)
class ImportResult:
    version: int
    added: list[tuple[str, str]]  # (capability, "METHOD /path/")
    known: int  # routes that were already in the table


def import_urlconf(routes: list[LegacyRoute], *, actor: str, reason: str,
                   prefix: str = "/api/v1/") -> ImportResult:
    """Add every legacy route not yet in the table, grouped into capabilities by path; new ones
    start on the monolith. Refused whole (nothing added) if a rule would overlap another."""
    reason = _require_reason(reason)
    added: list[tuple[str, str]] = []

    def work() -> ChangeResult:
        db = control_db()
        existing = set(RouteRule.objects.using(db).filter(host=None, header_name=None)
                       .values_list("method", "path"))
        for route in routes:
            if (route.method, route.path) in existing:
                continue
            cap, _ = Capability.objects.using(db).get_or_create(
                name=capability_for(route.path, prefix), defaults={"sticky_key": DEFAULT_STICKY_KEY})
            RouteRule.objects.using(db).create(capability=cap, method=route.method, path=route.path,
                                               source="urlconf")
            existing.add((route.method, route.path))
            added.append((cap.name, f"{route.method} {route.path}"))
        published = publish_version(actor, reason)
        entry = _audit("import", actor, reason, published.version)
        return ChangeResult(published.version, entry.pk)

    result = _change(work)
    return ImportResult(result.version, added, len(routes) - len(added))


def live_within() -> timedelta:
    """An instance with no heartbeat for this long is not live (STRANGLER_PROXY_LIVE_WITHIN, default 5s)."""
    from strangler.config import get_settings

    return get_settings().proxy_live_within


_CAPABILITY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")


def declare_capability(name: str, *, reason: str, actor: str) -> ChangeResult:
    """Create a capability without routes: an inline side effect (webhooks, notifications) that
    ``strangler.capability_flags.mode_of`` reads. It starts on the monolith and is flipped,
    gated and audited like any other; the proxies' table leaves it out (it routes nothing)."""
    reason = _require_reason(reason)
    if not _CAPABILITY_NAME.match(name or ""):
        raise InvalidRequestError(f"{name!r} is not a capability name (lower case letters, digits, "
                                  "'.', '_', '-'; e.g. webhooks.delivery); nothing was changed.")

    def work() -> ChangeResult:
        db = control_db()
        if Capability.objects.using(db).filter(name=name).exists():
            raise InvalidRequestError(f"capability {name!r} exists already; nothing was changed. "
                                      "Flip it with `strangler routes flip`.")
        Capability.objects.using(db).create(name=name, sticky_key=None)
        published = publish_version(actor, reason)
        entry = _audit("declare", actor, reason, published.version, capability=name,
                       after=("monolith", 0))
        return ChangeResult(published.version, entry.pk)

    return _change(work)


def set_upstream_path(route: str, upstream_path: str | None, *, reason: str, actor: str,
                      capability: str | None = None) -> ChangeResult:
    """Make ``route`` (``"GET /api/v1/wallets/{wallet_id}/balance/"``) a compatibility shim: its
    extracted upstream serves it under ``upstream_path`` (the route's own ``{params}``; the query
    string is kept); ``None`` makes it serve the legacy path again. The monolith always gets the
    legacy path. Checked as the proxies check it before anything changes; published and audited
    (action ``shim`` or ``unshim``, the route and both paths in the entry's evidence).
    ``capability``: refuse unless the route is that capability's (the API names both)."""
    reason = _require_reason(reason)
    method, path = parse_route(route)

    def work() -> ChangeResult:
        db = control_db()
        rules = list(RouteRule.objects.using(db).select_for_update().select_related("capability")
                     .filter(method=method, path=path))
        if not rules:
            raise InvalidRequestError(f"no route {method} {path} in the table; nothing was changed. "
                                      "`strangler routes list` shows the routes.")
        if len(rules) > 1:
            raise InvalidRequestError(
                f"{method} {path} has {len(rules)} rules (host or header variants); nothing was "
                "changed. A shim is set on a route with a single rule.")
        rule = rules[0]
        if capability is not None and rule.capability.name != capability:
            raise InvalidRequestError(f"{method} {path} is a route of {rule.capability.name}, not "
                                      f"{capability}; nothing was changed.")
        new = parse_upstream_path(method, path, upstream_path)
        old = rule.upstream_path or None
        if old == new:
            raise InvalidRequestError(f"{method} {path} already "
                                      f"{f'has upstream path {new}' if new else 'has no shim'}; "
                                      "nothing was changed.")
        rule.upstream_path = new
        rule.save(using=db, update_fields=["upstream_path"])
        published = publish_version(actor, reason)
        entry = _audit("shim" if new else "unshim", actor, reason, published.version,
                       capability=rule.capability.name,
                       details={"route": f"{method} {path}", "upstream_path": {"from": old, "to": new}})
        return ChangeResult(published.version, entry.pk)

    return _change(work)


# -- proxy instances --------------------------------------------------------------------
@dataclass(frozen=True)
class InstanceView:
    instance_id: str
    address: str
    version: int
    last_heartbeat_age_s: float
    live: bool


def instances() -> list[InstanceView]:
    now = timezone.now()
    return [InstanceView(i.instance_id, f"{i.host}:{i.port}", i.version,
                         (now - i.last_heartbeat).total_seconds(), now - i.last_heartbeat <= live_within())
            for i in ProxyInstance.objects.using(control_db()).order_by("instance_id")]


@dataclass(frozen=True)
class Propagation:
    version: int
    applied: list[str]
    lagging: list[str]  # live instances still on an older version
    waited_s: float


def wait_for_version(version: int, timeout: float, interval: float = 0.02) -> Propagation:
    """Wait until every live instance runs ``version`` (or later), or ``timeout`` passes."""
    started = time.monotonic()
    while True:
        live = [i for i in instances() if i.live]
        applied = [i.instance_id for i in live if i.version >= version]
        lagging = [i.instance_id for i in live if i.version < version]
        waited = time.monotonic() - started
        if not lagging or waited >= timeout:
            return Propagation(version, applied, lagging, waited)
        time.sleep(interval)
