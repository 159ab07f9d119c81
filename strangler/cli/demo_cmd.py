"""``strangler demo``: the main job. The ledger strangled end to end, reads then writes, on embedded defaults.

Stack up (monolith, Kafka, relay, control plane, ledger service with ``ledger_sync``,
proxy) on fresh databases, seed the monolith's history, point the legacy client at the
proxy and keep it running, then walk the ledger's read capabilities and then its writes
(``ledger.write``) through every phase with the real gates (``strangler.demo.journey``).
Prints a timeline, writes an HTML report (and its JSON twin), and exits non-zero if an
invariant broke or a gate stopped the journey.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from strangler.cli.argtypes import positive_float, positive_int
from strangler.cli.client_cmds import run_scenario_and_print
from strangler.cli.seed_cmd import run_seed
from strangler.config import get_settings, reset_settings_cache
from strangler.errors import StranglerError
from strangler.stack.stack import Stack

console = Console()
PLANTED_BUG = "STRANGLER_PLANTED_BUG"  # read by the ledger service: tests and the demo only
LEDGER_BUG = "ledger_query.txn_type_display"  # one wrong field in the transaction history


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job: strangle the ledger end to end, reads then writes, under live load",
        description="Bring the whole stack up on embedded defaults on fresh databases (the demo "
        "replaces its own data), seed the monolith's history, keep the legacy client calling the "
        "proxy throughout, and move the ledger read capabilities through backfill, catch-up, shadow, "
        "reconciliation, canary steps and extraction, then the ledger's writes (ledger.write) through "
        "write shadow (dry runs), the cutover's hand-over and reconciliation, then decommission both, "
        "through the real gates. "
        "Prints a timeline, writes an HTML report, exits 0 only if the journey completed with no "
        "client-visible error. The demo lowers the time-bound thresholds (shadow samples, clean "
        "runs in a row, the decommission window) so it takes minutes, and the candidate latency "
        "bound to fit a small shared machine, and prints the values it runs with.",
    )
    demo.add_argument("--transactions", type=positive_int, default=20_000,
                      help="ledger history to seed (default 20000)")
    demo.add_argument("--concurrency", type=positive_int, default=4,
                      help="legacy clients calling the proxy throughout (default 4)")
    demo.add_argument("--dwell", type=positive_float, default=6.0,
                      help="seconds of load in each routing phase (default 6)")
    demo.add_argument("--shadow-timeout", type=positive_float, default=180.0,
                      help="give up waiting for shadow evidence after this many seconds (default 180)")
    demo.add_argument("--reconcile-runs", type=positive_int, default=None,
                      help="clean reconciliation runs before the first canary share (default: the "
                      "certificate's, 3 in the demo)")
    demo.add_argument("--plant-bug", action="store_true",
                      help="start the ledger service with a planted bug (one wrong field): the "
                      "journey must stop at the shadow gate, with the evidence")
    demo.add_argument("--report", type=Path, default=None,
                      help="HTML report path (default $STRANGLER_HOME/demo-report.html)")
    demo.add_argument("--reset-external", action="store_true",
                      help="allow the demo to drop and recreate configured (non-embedded) databases")
    demo.add_argument("--keep-running", action="store_true",
                      help="leave the stack running afterwards (Ctrl-C stops it)")
    demo.set_defaults(handler=cmd_demo)


def _scenario(url: str, api_key: str) -> Any:
    from legacy_client import run_scenario
    from strangler.cli.client_cmds import STAFF_PASSWORD, STAFF_USERNAME

    return run_scenario(url, api_key=api_key, staff_username=STAFF_USERNAME,
                        staff_password=STAFF_PASSWORD)


def wait_for_outbox_drain(database_url: str, timeout: float) -> tuple[int, int]:
    """(captured, not yet handled) outbox rows, once the relay has caught up or time is out."""
    import psycopg

    from acl.install import SCHEMA

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE outcome IS NULL) "
                               f"FROM {SCHEMA}.outbox").fetchone()
            captured, pending = (int(row[0]), int(row[1])) if row else (0, 0)
            if pending == 0 or time.monotonic() > deadline:
                return captured, pending
            time.sleep(0.2)


def cmd_demo(args: argparse.Namespace) -> int:
    from strangler.demo.journey import demo_environment

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the timeline
    lowered = demo_environment()
    os.environ.update(lowered)
    if args.plant_bug:
        os.environ[PLANTED_BUG] = LEDGER_BUG
    else:
        os.environ.pop(PLANTED_BUG, None)
    reset_settings_cache()
    settings = get_settings()
    # reconciliation compares the monolith with the ledger service's own database
    os.environ.setdefault("STRANGLER_RECONCILE_EXTRACTED_URL", settings.ledger_database_url)
    if not settings.embedded_postgres and not args.reset_external:
        raise StranglerError(
            "the demo drops and recreates its databases, and these are configured "
            "(STRANGLER_*_DATABASE_URL). Unset them to use the embedded server, or pass "
            "--reset-external if those databases are yours to lose. Nothing was changed.")
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    started = time.monotonic()
    try:
        console.print("thresholds lowered for a demo (production defaults in `strangler config`): "
                      + ", ".join(f"{k.removeprefix('STRANGLER_')}={v}" for k, v in lowered.items()),
                      highlight=False)
        console.rule("1. the stack, on fresh databases")
        stack.start(services=True, reset_databases=True)
        console.rule("2. the monolith's history")
        seeded = run_seed(args.transactions, 10, 42, reset=True)
        console.print(f"{sum(seeded.counts.values()):,} rows at {seeded.rows_per_second:,.0f} rows/s "
                      "(history predates the strangler: it is not in the event stream)")
        console.rule("3. the legacy client, through the proxy")
        transcript = run_scenario_and_print(settings.proxy_url, seeded.api_keys[0])
        console.rule("4. the journey, with the legacy client calling the proxy throughout")
        return _journey(args, settings, stack, seeded, transcript, started)
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()


def _journey(args: argparse.Namespace, settings: Any, stack: Stack, seeded: Any, baseline: Any,
             started: float) -> int:
    from strangler.cli.routes_cmd import setup_control_plane
    from strangler.demo.journey import Journey, write_reports
    from strangler.demo.load import BackgroundLoad

    setup_control_plane(migrate=False)
    # The scenario's merchant (key 0) is kept out of the load: its expectations (the balance after
    # its own payout, say) hold only if no one else moves its wallets meanwhile.
    load = BackgroundLoad(settings.proxy_url, seeded.api_keys[1:] or seeded.api_keys, args.concurrency)
    load.start("legacy")
    try:
        journey = Journey(say=lambda line: console.print(line, highlight=False), load=load,
                          shadow_timeout=args.shadow_timeout, dwell=args.dwell,
                          reconcile_runs=args.reconcile_runs or int(
                              os.environ["STRANGLER_RECONCILE_CERTIFICATE_RUNS"]),
                          scenario=lambda: _scenario(settings.proxy_url, seeded.api_keys[0]),
                          baseline=baseline)
        outcome = journey.run()
    finally:
        load.stop()
    if not baseline.ok:
        outcome.broken.append("the legacy client's scenario failed through the proxy")
    captured, unpublished = wait_for_outbox_drain(settings.monolith_database_url, timeout=60)
    if unpublished:
        outcome.broken.append(f"{unpublished} captured writes never reached Kafka")
    report = args.report or settings.home / "demo-report.html"
    json_path = write_reports(outcome, report)
    summary = Table("phase", "routing", "requests", "client errors", "on ledger svc: reads / writes",
                    "shadow", "reconciliation", title="strangler demo — the journey")
    for p in outcome.phases:
        summary.add_row(p.name, p.routing, f"{p.requests:,}", str(p.client_errors),
                        " / ".join("-" if share is None else f"{share:.0%}"
                                   for share in (p.extracted_share, p.write_share)),
                        "-" if p.match_rate is None else f"{p.match_rate:.2%} of {p.shadow_samples}",
                        p.reconciliation or "-")
    console.print(summary)
    console.print(f"events: {captured:,} writes captured, {unpublished:,} not yet on Kafka; "
                  f"logs {settings.log_dir}; took {time.monotonic() - started:.0f}s")
    console.print(f"report: {report} (data: {json_path})")
    for broken in outcome.broken:
        console.print(f"[bold red]invariant broken:[/] {broken}", highlight=False)
    if outcome.ok:
        console.print("[bold green]demo passed[/]: the ledger is extracted, reads and writes; the "
                      "legacy client saw no error")
    elif outcome.stopped_at:
        console.print(f"[bold red]demo stopped at the gate[/] {outcome.stopped_at}", highlight=False)
    if args.keep_running:
        console.print(f"stack still running; clients → {settings.proxy_url}; Ctrl-C stops it")
        stack.watch()
    return 0 if outcome.ok else 1
