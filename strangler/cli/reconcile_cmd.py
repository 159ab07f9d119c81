"""``strangler reconcile run|report|certificate|ack|resolve|accept``: ledger parity for finance and CI.

``run`` executes in this process (same service layer as the nightly Celery task) with a
progress bar; its exit code is for CI: 0 clean, 1 breaks, 2 incomplete or failed, and a
code of 64 or more when the request itself is refused before anything runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from strangler.cli.routes_cmd import actor_of, setup_control_plane

console = Console()
EXIT_CODES = {"clean": 0, "breaks": 1, "incomplete": 2, "failed": 2}

RUN_DESCRIPTION = """\
Compare the legacy ledger with the extracted one through the capability's mapping, store
the run and its discrepancies in the control plane, and sign its manifest.

Each comparison keeps its clean key-range segments. The next run is incremental: it
re-reads only segments that changed on either side since (a cheap row-version scan
proves the rest unchanged), and still reports totals for the whole table. A run is
full when asked (--full), when the mapping or a table's storage changed, when there are
no kept segments, or once every STRANGLER_RECONCILE_FULL_EVERY runs (default: the
certificate's run count), so every certificate streak contains a full comparison.
"""
RUN_EPILOG = """\
exit codes:
  0   clean: no breaks (pending rows inside the lag window may remain)
  1   breaks: discrepancies to review (strangler reconcile report RUN)
  2   incomplete or failed: a side was empty or unreadable; never counts as clean
  65  the mapping file is broken, or names another capability (nothing was run)
  78  a setting is invalid (nothing was run)

settings:
  STRANGLER_RECONCILE_LEGACY_URL     legacy database (default: the monolith's)
  STRANGLER_RECONCILE_EXTRACTED_URL  extracted ledger database (required)
  STRANGLER_RECONCILE_FULL_EVERY     one run in this many reads every row
  STRANGLER_CONTROL_DATABASE_URL     where runs, discrepancies and manifests are stored

example:
  strangler reconcile run --capability ledger --extracted-url postgresql://host/ledger
"""


def register(subparsers: Any) -> None:
    rec = subparsers.add_parser("reconcile", help="reconcile legacy vs extracted data; reports, sign-off",
                                description="Run reconciliations, report them, sign off discrepancies.")
    sub = rec.add_subparsers(dest="reconcile_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="run a reconciliation now (exit 0 clean, 1 breaks, 2 incomplete)",
                         description=RUN_DESCRIPTION, epilog=RUN_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--capability", default="ledger",
                     help="which capability's mapping to run (default: ledger)")
    run.add_argument("--legacy-url", metavar="URL",
                     help="legacy database (default: STRANGLER_RECONCILE_LEGACY_URL or the monolith's)")
    run.add_argument("--extracted-url", metavar="URL",
                     help="extracted database (default: STRANGLER_RECONCILE_EXTRACTED_URL; "
                          "without either the run is incomplete)")
    run.add_argument("--mapping", metavar="FILE",
                     help="mapping file (default: the one shipped for the capability)")
    run.add_argument("--full", action="store_true",
                     help="compare every row, even where an incremental run is allowed")
    run.add_argument("--actor", help="who asked (default: $USER)")
    run.set_defaults(handler=cmd_run)

    report = sub.add_parser("report", help="a stored run's report")
    report.add_argument("run", type=int)
    report.add_argument("--format", choices=("html", "csv", "json"), default="html")
    report.add_argument("--out", help="file to write (default: stdout)")
    report.set_defaults(handler=cmd_report)

    cert = sub.add_parser("certificate", help="the capability's parity certificate")
    cert.add_argument("--capability", default="ledger")
    cert.add_argument("--runs", type=int, help="consecutive clean runs needed "
                                               "(default STRANGLER_RECONCILE_CERTIFICATE_RUNS or 7)")
    cert.set_defaults(handler=cmd_certificate)

    for action in ("ack", "resolve", "accept"):
        act = sub.add_parser(action, help=f"{action} a discrepancy, with a note (audited)")
        act.add_argument("discrepancy", type=int)
        act.add_argument("--note", required=True, help="why: kept in the audit trail")
        act.add_argument("--actor", help="who (default: $USER)")
        act.set_defaults(handler=cmd_act, action={"ack": "acknowledge"}.get(action, action))


def cmd_run(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.reconciliation import services

    run = services.start_run(args.capability, requested_by=actor_of(args),
                             mapping_path=args.mapping, full=args.full)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(f"run {run.pk} {args.capability}", total=None)

        def progress(done: int, total: int, step: str) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"run {run.pk} {args.capability} {step}".rstrip())

        run = services.execute_run(run.pk, legacy_url=args.legacy_url,
                                   extracted_url=args.extracted_url, progress=progress)
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "no discrepancies"
    console.print(f"run {run.pk}: [bold]{run.status}[/] ({counts})")
    for entry in (run.manifest or {}).get("comparisons", []):
        for reason in entry.get("incomplete_reasons", []):
            console.print(f"  {entry['name']}: incomplete: {reason}", highlight=False)
        covered = entry.get("coverage", {})
        if covered.get("segments"):
            console.print(f"  {entry['name']}: {covered['mode']}, {covered['rechecked']} of "
                          f"{covered['segments']} segments read ({covered['reason']})",
                          highlight=False)
    if run.error:
        console.print(f"  {run.error}", highlight=False)
    console.print(f"report: strangler reconcile report {run.pk} --format html --out run-{run.pk}.html")
    return EXIT_CODES.get(run.status, 2)


def cmd_report(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.reconciliation import reports, services

    text = reports.render(services.get_run(args.run), args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        console.print(f"wrote {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


def cmd_certificate(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.reconciliation import services

    cert = services.certificate(args.capability, required_runs=args.runs)
    console.print(f"{cert.capability}: [bold]{cert.verdict.upper()}[/]: {cert.reason}", highlight=False)
    return 0 if cert.verdict == "pass" else 1


def cmd_act(args: argparse.Namespace) -> int:
    setup_control_plane()
    from strangler.control.reconciliation import services

    found = services.act(args.discrepancy, args.action, actor=actor_of(args), note=args.note)
    console.print(f"discrepancy {found.pk}: {found.state}")
    return 0
