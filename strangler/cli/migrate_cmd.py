"""``strangler migrate status|advance|rollback|backfill``: the cutover runbook, one capability at a time.

``declare`` creates a write capability (``ledger.write``) and moves its legacy write routes
into it. ``advance`` takes the next transition of the capability's plan (or every one up to
``--to``), refused with the missing evidence named; ``rollback`` goes back to safety
(routing to the monolith, data kept). ``backfill`` runs the initial load on its own,
with a progress bar and ETA. Exit codes: 0 done, 2 refused or invalid, 3 checks
still pending (the step stays open: advance again to finish, or roll back).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from strangler.cli.routes_cmd import actor_of, setup_control_plane

console = Console()


def register(subparsers: Any) -> None:
    mig = subparsers.add_parser(
        "migrate", help="the cutover plan of a capability: status, advance, rollback, backfill",
        description="Each capability moves planned → backfilled → shadow → canary steps → extracted "
                    "→ decommissioned, each step gated on evidence and audited.")
    sub = mig.add_subparsers(dest="migrate_command", metavar="ACTION", required=True)

    status = sub.add_parser("status", help="where each capability stands and what its next step needs")
    status.add_argument("capability", nargs="?")
    status.set_defaults(handler=cmd_status)

    adv = sub.add_parser("advance", help="take the next step (refused, naming what is missing)")
    adv.add_argument("capability")
    adv.add_argument("--to", help="go on to this state: backfilled|shadow|canary|extracted|decommissioned")
    adv.add_argument("--percent", help="the canary share to set (default: the next step)")
    _change_args(adv)
    _backfill_args(adv)
    adv.set_defaults(handler=cmd_advance)

    back = sub.add_parser("rollback", help="back to safety now: routing to the monolith, data kept")
    back.add_argument("capability")
    _change_args(back)
    back.set_defaults(handler=cmd_rollback)

    declare = sub.add_parser("declare", help="create a write capability (ledger.write) with its legacy "
                             "write routes: one flag for the proxy's routes and the monolith's port")
    declare.add_argument("capability")
    _change_args(declare)
    declare.set_defaults(handler=cmd_declare)

    fill = sub.add_parser("backfill", help="copy a data capability's history (e.g. ledger), resumable")
    fill.add_argument("capability", help="data capability, e.g. ledger")
    fill.add_argument("--restart", action="store_true", help="forget the checkpoint (still idempotent)")
    _backfill_args(fill)
    fill.set_defaults(handler=cmd_backfill)


def _change_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="", help="why (required; goes to the audit log)")
    parser.add_argument("--actor", default=None, help="who is acting (default $USER)")


def _backfill_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-rows", type=int, default=5000, help="ids per chunk (default 5000)")
    parser.add_argument("--latency-bound-ms", type=float, default=50.0,
                        help="pause while the monolith's probe p95 is above this (default 50)")


class _Bar:
    """A rich progress bar (with ETA) per backfill phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=max(total, 1))
        self.progress.update(self.tasks[phase], completed=done)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def _options(args: argparse.Namespace, restart: bool = False) -> Any:
    from migrations.backfill import BackfillOptions

    return BackfillOptions(chunk_rows=args.chunk_rows, latency_bound_ms=args.latency_bound_ms,
                           restart=restart)


def cmd_status(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.cutover import services

    table = Table("capability", "state", "routing", "ports", "next step", "needs", "missing")
    for row in services.status(args.capability):
        state = f"{row.state} {row.percent}%" if row.percent else row.state
        if row.in_progress:
            state += f"\n[yellow]open step → {row.in_progress.get('target')} " \
                     f"(next action {row.in_progress.get('next_action')})[/]"
        table.add_row(row.capability, state, row.route_mode,
                      ", ".join(f"{k}={v}" for k, v in row.ports.items()) or "-",
                      row.next or "(done)", ", ".join(row.needs) or "-",
                      "\n".join(row.missing) or "[green]nothing[/]")
    console.print(table)
    return 0


def cmd_advance(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.cutover import services
    from strangler.control.cutover.actions import LiveActions

    with _progress() as progress:
        actions = LiveActions(_options(args), _Bar(progress), say=_say)
        steps = services.advance(args.capability, actor=actor_of(args), reason=args.reason,
                                 executor=actions, to=args.to, percent=args.percent)
    for step in steps:
        console.print(f"[green]{step.capability}: {step.transition}[/] ({step.outcome}; audit "
                      f"#{step.audit_id}; actions: {', '.join(step.actions) or 'none'})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.cutover import services
    from strangler.control.cutover.actions import LiveActions

    step = services.rollback(args.capability, actor=actor_of(args), reason=args.reason,
                             executor=LiveActions(say=_say))
    console.print(f"[yellow]{step.capability}: {step.transition}[/] (audit #{step.audit_id}; "
                  f"actions: {', '.join(step.actions) or 'none'})")
    return 0


def _say(line: str) -> None:
    console.print(f"  {line}")


def cmd_declare(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.cutover import services

    result = services.declare_write_capability(args.capability, actor=actor_of(args), reason=args.reason)
    for line in result.moved:
        console.print(f"  moved {line}")
    for line in result.added:
        console.print(f"  added {line}")
    console.print(f"[green]{result.capability}[/] carries its write routes (route table v{result.version}); "
                  f"next: `strangler migrate advance {result.capability}`")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from migrations.backfill import run_backfill
    from strangler.config import get_settings

    s = get_settings()
    with _progress() as progress:
        report = run_backfill(args.capability, s.monolith_database_url, s.ledger_database_url,
                              _options(args, args.restart), _Bar(progress))
    console.print(f"copied {report.rows_now} rows in {report.chunks_now} chunks; paused "
                  f"{report.paused_s:.1f} s for the monolith (probe p95 {report.probe_p95_ms:.1f} ms); "
                  f"hand-over mark: outbox commit_seq {report.outbox_high_water}")
    for c in report.checkpoints:
        console.print(f"  {c.phase}: {c.rows_done}/{c.rows_total} rows, up to id {c.last_id} of "
                      f"{c.target_id}{' (finished)' if c.finished else ''}")
    return 0
