"""``strangler routes|rollback|proxy|control-plane|token``: operate the routing control plane.

The CLI acts as an operator (actor ``--actor`` or ``$USER``) and calls the control
plane's service layer directly, with Django set up on ``strangler.control.settings``
inside the command. ``flip`` and ``rollback`` wait until every live proxy instance
runs the new version, or say which did not (exit code 3).
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from strangler.config import get_settings
from strangler.errors import StranglerError

console = Console()
MODE_STYLE = {"monolith": "white", "shadow": "cyan", "canary": "yellow", "extracted": "green"}


def register(subparsers: Any) -> None:
    routes = subparsers.add_parser("routes", help="the route table: import, list, status, flip, shim, "
                                   "audit, unused",
                                   description="Inspect and change the route table in the control plane.")
    sub = routes.add_subparsers(dest="routes_command", metavar="ACTION", required=True)

    imp = sub.add_parser("import-urlconf", help="add every legacy route of the monolith's URLconf")
    imp.add_argument("--urlconf", default="monolith.urls")
    imp.add_argument("--prefix", default="/api/", help="only routes under this path (default /api/)")
    imp.add_argument("--group-prefix", default="/api/v1/",
                     help="capability names are the path's literal segments after this prefix")
    imp.add_argument("--reason", default="seed the route table from the monolith's URLconf")
    _actor(imp)
    imp.set_defaults(handler=cmd_import)

    sub.add_parser("list", help="capabilities, their modes and routes").set_defaults(handler=cmd_list)
    sub.add_parser("status", help="every proxy instance and the version it runs").set_defaults(
        handler=cmd_status)

    declare = sub.add_parser("declare", help="add a capability without routes (an inline side effect "
                             "such as webhooks.delivery); it starts on the monolith")
    declare.add_argument("capability")
    _change_args(declare)
    declare.set_defaults(handler=cmd_declare)

    flip = sub.add_parser("flip", help="move a capability to monolith|shadow|canary|extracted")
    flip.add_argument("capability")
    flip.add_argument("mode", help="monolith | shadow | canary | extracted")
    flip.add_argument("--percent", help="canary share, 0.01..100 in 0.01 steps")
    flip.add_argument("--sticky-key",
                      help="canary key KIND:SOURCE:NAME, e.g. merchant_id:header:X-Merchant-ID")
    flip.add_argument("--force", action="store_true", help="override a gate that does not hold (audited)")
    _change_args(flip)
    flip.set_defaults(handler=cmd_flip)

    for name, helptext in (("kill", "send a capability (or, without one, everything) to the monolith"),
                           ("unkill", "undo a kill switch")):
        kill = sub.add_parser(name, help=helptext)
        kill.add_argument("capability", nargs="?", help="omit for the global kill switch")
        if name == "kill":
            kill.add_argument("--force", action="store_true",
                              help="kill even where it is refused as unsafe (an extracted write "
                              "capability: use `strangler migrate rollback` instead); audited as forced")
        _change_args(kill)
        kill.set_defaults(handler=cmd_kill, on=name == "kill")

    shim = sub.add_parser(
        "shim", help="make a route a compatibility shim: its extracted upstream serves it under its "
        "own path (the monolith keeps the legacy one)")
    shim.add_argument("route", help='METHOD /path as `routes list` shows it, e.g. '
                      '"GET /api/v1/wallets/{wallet_id}/balance/"')
    shim.add_argument("upstream_path", nargs="?",
                      help="the path with the route's own {params}, e.g. /v2/accounts/{wallet_id}/balance "
                           "(the query string is kept)")
    shim.add_argument("--clear", action="store_true",
                      help="remove the shim: the extracted upstream gets the legacy path again")
    _change_args(shim)
    shim.set_defaults(handler=cmd_shim)

    audit = sub.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--capability")
    audit.add_argument("--limit", type=int, default=20)
    audit.set_defaults(handler=cmd_audit)

    from strangler.cli import routes_unused_cmd

    routes_unused_cmd.add_unused(sub)

    rollback = subparsers.add_parser("rollback", help="return a capability to the monolith now (no gate)")
    rollback.add_argument("capability")
    rollback.add_argument("--force", action="store_true",
                          help="roll back even a decommissioned capability (its monolith code must be "
                          "deployed again; audited as forced)")
    _change_args(rollback)
    rollback.set_defaults(handler=cmd_rollback)

    proxy = subparsers.add_parser("proxy", help="run routing proxy instance(s) attached to the control plane")
    proxy.add_argument("--port", type=int, default=8080)
    proxy.add_argument("--instances", type=int, default=1, help="processes sharing the port")
    proxy.add_argument("--monolith-url", help="default: the configured monolith")
    proxy.add_argument("--extracted-url", help="default: the monolith (until extracted services exist)")
    proxy.add_argument("--metrics-port", type=int,
                       help="Prometheus /metrics of instance i on METRICS_PORT + i (off by default)")
    _shadow_args(proxy)
    proxy.set_defaults(handler=cmd_proxy)

    control = subparsers.add_parser("control-plane", help="migrate and serve the control plane API and admin")
    control.add_argument("--port", type=int, default=8100)
    control.add_argument("--workers", type=int, default=2)
    control.set_defaults(handler=cmd_control_plane)

    token = subparsers.add_parser("token", help="API tokens of the control plane")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = token_sub.add_parser("create", help="create a token; it is shown once")
    create.add_argument("name")
    create.add_argument("--permissions", default="read", help="comma list of read,flip,force")
    create.set_defaults(handler=cmd_token_create)


def _shadow_args(proxy: argparse.ArgumentParser) -> None:
    """The comparator's options: shadow copies are compared and stored unless --no-shadow."""
    shadow = proxy.add_argument_group("shadow comparison (capabilities in mode shadow)")
    shadow.add_argument("--no-shadow", action="store_true", help="do not compare shadow copies")
    shadow.add_argument("--shadow-rules", help="diff rules TOML file (see shadow.rules)")
    shadow.add_argument("--shadow-secondary-url",
                        help="a second monolith instance for noise cancellation (default: none)")
    shadow.add_argument("--shadow-effects-database-url",
                        help="database whose ACL outbox holds the monolith's events, to compare shadowed "
                             "writes' side effects (default: the configured monolith database)")
    shadow.add_argument("--shadow-token", help="value of X-Strangler-Shadow sent to candidates")


def shadow_argv(args: argparse.Namespace, monolith_database_url: str) -> list[str]:
    """``python -m routing_proxy`` options for the comparator, from ``strangler proxy``'s."""
    if args.no_shadow:
        return []
    argv = ["--shadow-compare",
            "--shadow-effects-database-url", args.shadow_effects_database_url or monolith_database_url]
    for option, value in (("--shadow-rules", args.shadow_rules),
                          ("--shadow-secondary-url", args.shadow_secondary_url),
                          ("--shadow-token", args.shadow_token)):
        if value:
            argv += [option, value]
    return argv


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default=None, help="who is acting (default $USER)")


def _change_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="", help="why (required; goes to the audit log)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="seconds to wait for every live proxy to apply it (0: do not wait)")
    _actor(parser)


def actor_of(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown-operator"


def setup_control_plane(migrate: bool = True) -> None:
    """Configure Django for the control plane; create and migrate its database if needed."""
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ["DJANGO_SETTINGS_MODULE"] = "strangler.control.settings"
    django.setup()
    if not migrate:
        return
    import psycopg
    from django.core.management import call_command

    from strangler.stack.postgres import ensure_database

    url = get_settings().control_database_url
    parts = urlsplit(url)
    try:
        ensure_database(parts._replace(path="/postgres").geturl(), parts.path.lstrip("/"))
        call_command("migrate", verbosity=0, interactive=False)
    except (psycopg.OperationalError, django.db.OperationalError) as exc:
        raise StranglerError(
            f"cannot reach the control plane database: {exc}. Start the stack (`strangler up`) or "
            "set STRANGLER_CONTROL_DATABASE_URL. Nothing was changed.") from exc


# -- routes ----------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services
    from strangler.control.routing.urlconf import legacy_routes

    routes = legacy_routes(args.urlconf, args.prefix)
    result = services.import_urlconf(routes, actor=actor_of(args), reason=args.reason,
                                     prefix=args.group_prefix)
    table = Table("capability", "route added", title=f"imported from {args.urlconf}")
    for capability, route in result.added:
        table.add_row(capability, route)
    console.print(table)
    console.print(f"{len(result.added)} routes added, {result.known} already known; "
                  f"published version {result.version}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services
    from strangler.control.routing.models import Capability, GlobalSwitch

    db = services.control_db()
    switch = GlobalSwitch.objects.using(db).filter(pk=1).first()
    table = Table("capability", "mode", "canary %", "killed", "upstream", "routes",
                  title=f"route table v{services.current_version()}"
                  f"{'  [bold red]GLOBAL KILL SWITCH ON[/]' if switch and switch.kill_switch else ''}")
    for cap in Capability.objects.using(db).prefetch_related("rules").order_by("name"):
        style = MODE_STYLE.get(cap.mode, "white")
        table.add_row(cap.name, f"[{style}]{cap.mode}[/]", cap.percent if cap.mode == "canary" else "",
                      "[red]yes[/]" if cap.killed else "", cap.upstream,
                      "\n".join(r.shim for r in cap.rules.all()))
    console.print(table)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services

    current = services.current_version()
    table = Table("instance", "address", "version", "last heartbeat", "state",
                  title=f"proxy instances (published version {current})")
    for i in services.instances():
        state = ("[green]current[/]" if i.version >= current else "[yellow]behind[/]") if i.live \
            else "[red]not live[/]"
        table.add_row(i.instance_id, i.address, str(i.version), f"{i.last_heartbeat_age_s:.1f}s ago", state)
    console.print(table)
    return 0


def _report_change(verb: str, result: Any, wait: float) -> int:
    from strangler.control.routing import services
    from strangler.control.routing.errors import PropagationError

    console.print(f"[green]{verb}[/]: published version {result.version} (audit #{result.audit_id})")
    if result.gate is not None and result.gate.required:
        console.print(f"gate: {result.gate.summary()}")
    if wait <= 0:
        return 0
    propagation = services.wait_for_version(result.version, wait)
    if propagation.lagging:
        raise PropagationError(result.version, propagation.lagging)
    console.print(f"applied by {len(propagation.applied)} live proxy instance(s) in "
                  f"{propagation.waited_s * 1000:.0f} ms")
    return 0


def cmd_flip(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services
    from strangler.control.routing.values import parse_sticky_key

    sticky = parse_sticky_key(args.sticky_key) if args.sticky_key else None
    result = services.flip(args.capability, args.mode, percent=args.percent, reason=args.reason,
                           actor=actor_of(args), force=args.force, sticky_key=sticky)
    if result.gate is not None and args.force and not result.gate.holds:
        console.print(f"[bold yellow]forced[/] past the gate: {result.gate.summary()}")
    return _report_change(f"{args.capability} → {args.mode}", result, args.wait)


def cmd_declare(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services

    result = services.declare_capability(args.capability, reason=args.reason, actor=actor_of(args))
    return _report_change(f"{args.capability} declared (monolith)", result, args.wait)


def cmd_kill(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services

    result = services.set_kill_switch(args.capability, args.on, reason=args.reason, actor=actor_of(args),
                                      force=getattr(args, "force", False))
    what = args.capability or "global kill switch"
    return _report_change(f"{what} {'killed' if args.on else 'live again'}", result, args.wait)


def cmd_shim(args: argparse.Namespace) -> int:
    from strangler.control.routing.errors import InvalidRequestError

    if args.clear == bool(args.upstream_path):
        raise InvalidRequestError("give either UPSTREAM_PATH or --clear (not both, not neither); nothing "
                             "was changed. E.g. strangler routes shim \"GET /api/v1/wallets/"
                             "{wallet_id}/balance/\" /v2/accounts/{wallet_id}/balance --reason \"...\"")
    setup_control_plane()
    from strangler.control.routing import services

    result = services.set_upstream_path(args.route, None if args.clear else args.upstream_path,
                                        reason=args.reason, actor=actor_of(args))
    done = "shim removed" if args.clear else f"→ {args.upstream_path} on its extracted upstream"
    return _report_change(f"{args.route} {done}", result, args.wait)


def cmd_rollback(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services

    result = services.rollback(args.capability, reason=args.reason, actor=actor_of(args),
                               force=args.force)
    return _report_change(f"{args.capability} → monolith", result, args.wait)


def cmd_audit(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services
    from strangler.control.routing.models import AuditEntry

    entries = AuditEntry.objects.using(services.control_db()).order_by("-id")
    if args.capability:
        entries = entries.filter(capability=args.capability)
    table = Table("#", "when", "who", "action", "capability", "from → to", "version", "forced",
                  "reason", "gate", title="audit log")
    for e in entries[: max(1, args.limit)]:
        change = f"{e.from_mode} → {e.to_mode}" if e.from_mode or e.to_mode else ""
        if e.action in ("shim", "unshim"):
            paths = e.evidence.get("upstream_path", {})
            change = (f"{e.evidence.get('route', '')}: {paths.get('from') or '(legacy path)'} → "
                      f"{paths.get('to') or '(legacy path)'}")
        elif e.to_mode == "canary":
            change += f" {e.to_basis_points / 100:.2f}%"
        gate = e.evidence.get("missing") or e.evidence.get("failed") or []
        table.add_row(str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.capability,
                      change, str(e.version), "[red]yes[/]" if e.forced else "", e.reason,
                      "\n".join(gate) if e.evidence.get("required") else "")
    console.print(table)
    return 0


# -- processes ---------------------------------------------------------------------------
def cmd_proxy(args: argparse.Namespace) -> int:
    if args.shadow_rules:
        from shadow.rules import parse_rules_file

        parse_rules_file(args.shadow_rules)  # a broken file stops here, with file and line, not in N children
    setup_control_plane()  # the schema the proxies read and write must exist
    settings = get_settings()
    if args.instances < 1:
        raise StranglerError("--instances must be at least 1")
    monolith = args.monolith_url or settings.monolith_url
    argv = [sys.executable, "-m", "routing_proxy", "--control-database-url", settings.control_database_url,
            "--port", str(args.port), "--monolith-url", monolith,
            "--extracted-url", args.extracted_url or monolith, "--log-format", settings.log_format,
            *shadow_argv(args, settings.monolith_database_url)]
    if args.instances > 1:
        argv.append("--reuse-port")
    def instance_argv(i: int) -> list[str]:
        if args.metrics_port is None:
            return argv
        return [*argv, "--metrics-port", str(args.metrics_port + i)]

    children = [subprocess.Popen(instance_argv(i)) for i in range(args.instances)]
    console.print(f"[green]{args.instances} proxy instance(s)[/] on 127.0.0.1:{args.port} following "
                  "the control plane (Ctrl-C stops)")
    return _supervise(children)


def cmd_control_plane(args: argparse.Namespace) -> int:
    setup_control_plane()
    child = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "strangler.control.wsgi:application", "--bind",
         f"127.0.0.1:{args.port}", "--workers", str(args.workers), "--access-logfile", "-"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "strangler.control.settings"})
    console.print(f"[green]control plane[/] on http://127.0.0.1:{args.port}/api/ "
                  f"(admin /admin/, schema /api/schema/; Ctrl-C stops)")
    return _supervise([child])


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [c.returncode for c in children if c.returncode not in (None, 0)]
        if failed:
            raise StranglerError(f"a child process exited with {failed[0]}; the others were stopped")
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def cmd_token_create(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.routing import services
    from strangler.control.routing.models import PERMISSIONS, ApiToken

    permissions = [p.strip() for p in args.permissions.split(",") if p.strip()]
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise StranglerError(f"unknown permissions {unknown or permissions}; use a comma list of "
                             f"{', '.join(PERMISSIONS)}. No token was created.")
    if ApiToken.objects.using(services.control_db()).filter(name=args.name).exists():
        raise StranglerError(f"a token named {args.name!r} exists; choose another name. Nothing changed.")
    _, raw = ApiToken.issue(args.name, permissions, using=services.control_db())
    console.print(f"token [bold]{args.name}[/] ({', '.join(sorted(set(permissions)))}); shown once:")
    print(raw)
    return 0
