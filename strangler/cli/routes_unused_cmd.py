"""``strangler routes unused --days N``: legacy routes with no traffic over a window.

From the proxies' per-route traffic record in the control plane. Routes on the
monolith with no traffic are dead code; extracted routes with no traffic are
compatibility shims ready to retire. A route with an upstream path (``strangler routes
shim``) shows where its extracted upstream serves it; ``--shims`` lists only those, with
their traffic whether used or not. Exit code 0 always: it is a report.

Wiring: ``add_unused(sub)`` is called with the ``routes`` subcommand's subparsers.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from strangler.cli.routes_cmd import setup_control_plane

if TYPE_CHECKING:
    from migrations.decommission import RouteVerdict

console = Console()


def add_unused(routes_subparsers: Any) -> None:
    unused = routes_subparsers.add_parser("unused", help="legacy routes with no traffic over a window")
    unused.add_argument("--days", type=int, default=60, help="the window, in days (default 60)")
    unused.add_argument("--all", action="store_true", help="list routes with traffic too")
    unused.add_argument("--shims", action="store_true",
                        help="list only routes with an upstream path (`routes shim`), with traffic or not")
    unused.set_defaults(handler=cmd_unused)


def cmd_unused(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.cutover.traffic import unused_routes

    verdicts, since = unused_routes(args.days)
    table = Table("capability", "mode", "route", f"hits ({args.days} d)", "last hit", "advice")
    for v in verdicts:
        u = v.use
        if not _listed(v, args):
            continue
        route = f"{u.method} {u.path}" + (f"\n→ {u.upstream_path}" if u.upstream_path else "")
        table.add_row(u.capability, u.mode, route, str(u.hits),
                      f"{u.last_hit:%Y-%m-%d %H:%M}" if u.last_hit else "never", v.advice)
    console.print(table)
    console.print(f"traffic recorded since {since:%Y-%m-%d %H:%M} UTC" if since
                  else "no traffic recorded yet: proxies flush it with their heartbeat")
    return 0


def _listed(verdict: RouteVerdict, args: argparse.Namespace) -> bool:
    if args.shims:  # every shim, in use or not: the operator retires the unused ones
        return verdict.use.upstream_path is not None
    return bool(verdict.unused or args.all)
