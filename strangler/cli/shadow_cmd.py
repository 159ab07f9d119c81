"""``strangler shadow report|replay|prune``: shadow-traffic results for people and CI.

Exit codes CI can use: 0 the match rate reaches ``--fail-under`` (or no threshold
was given and there were samples); 1 it does not; 3 no observations at all
(insufficient evidence is never a pass); 65 a rules file or corpus is invalid.
``report`` reads the control plane's database; ``replay`` needs no database unless
``--store`` asks to keep the observations there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from strangler.config import format_duration, parse_duration
from strangler.errors import StranglerError

EXIT_PASS, EXIT_BELOW, EXIT_NO_DATA = 0, 1, 3
console = Console(stderr=True)


def duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a header like 'Authorization: Api-Key KEY'")
    return name.strip(), value.strip()


def _output_options(parser: argparse.ArgumentParser) -> None:
    from shadow.report import FORMATS

    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--fail-under", type=float, default=None, metavar="PERCENT",
                        help="exit 1 when the match rate (percent) is below this, e.g. 99.9")
    parser.add_argument("--output", "-o", type=Path, help="write the report here instead of stdout")


def register(subparsers: Any) -> None:
    shadow = subparsers.add_parser("shadow", help="shadow-traffic reports, replay of recorded traffic",
                                   description="Shadow-traffic results: reports, CI replay, retention.")
    sub = shadow.add_subparsers(dest="shadow_command", metavar="ACTION", required=True)

    report = sub.add_parser("report", help="report stored observations (control plane database)")
    report.add_argument("--capability", help="one capability (default: all)")
    report.add_argument("--since", type=duration, default=timedelta(hours=24), help="e.g. 24h (default), 7d")
    _output_options(report)
    report.set_defaults(handler=cmd_report)

    replay = sub.add_parser(
        "replay", help="replay captured traffic (mitmproxy .flow or JSONL) against primary and candidate",
        description="Replay recorded exchanges against a primary and a candidate with no live traffic and "
        "report like `shadow report`. Flow files from `strangler capture` have their credentials "
        "redacted: give real ones with --set-header for authenticated routes, or both sides answer "
        "401 and match, which proves nothing.")
    replay.add_argument("flows", type=Path,
                        help="a .flow file from `strangler capture`, or a JSONL corpus (see shadow.replay)")
    replay.add_argument("--set-header", action="append", default=[], metavar="'NAME: VALUE'",
                        type=_header, help="put this header back where the capture redacted it "
                        "(repeatable), e.g. --set-header 'Authorization: Api-Key ps_test_...'")
    replay.add_argument("--primary", required=True, help="primary base URL, e.g. http://127.0.0.1:8000")
    replay.add_argument("--candidate", required=True, help="candidate base URL")
    replay.add_argument("--secondary", help="a second primary instance, for noise cancellation")
    replay.add_argument("--rules", type=Path, help="diff rules TOML file")
    replay.add_argument("--capability", help="capability for corpus lines that name none")
    replay.add_argument("--include-writes", action="store_true",
                        help="also replay POST/PUT/PATCH/DELETE (the primary applies them for real)")
    replay.add_argument("--concurrency", type=int, default=8)
    replay.add_argument("--store", action="store_true", help="also keep observations in the control plane")
    _output_options(replay)
    replay.set_defaults(handler=cmd_replay)

    prune = sub.add_parser("prune", help="delete stored observations older than the retention period")
    prune.add_argument("--older-than", type=duration, default=timedelta(days=30))
    prune.set_defaults(handler=cmd_prune)


def _django() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler.control.settings")
    django.setup()


def _emit(args: argparse.Namespace, observations: list[Any], title: str) -> int:
    from shadow.aggregate import aggregate
    from shadow.evidence import Thresholds, gate_evidence
    from shadow.report import passed, render
    from strangler.config import get_settings

    settings = get_settings()  # the gate's own thresholds, so the report says what the gate will
    thresholds = Thresholds(settings.shadow_min_match_rate, settings.shadow_min_samples,
                            settings.shadow_max_latency_delta_ms)
    summary = aggregate(observations)
    text = render(args.format, summary, gate_evidence(summary, thresholds), title, args.fail_under)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if summary.total == 0:
        console.print("no shadow observations: insufficient evidence (exit 3)")
        return EXIT_NO_DATA
    return EXIT_PASS if passed(summary, args.fail_under) else EXIT_BELOW


def _stored(read: Any) -> Any:
    """Run ``read`` on the control plane's store; an unreachable or unmigrated database: a clear error."""
    from django.db import DatabaseError

    from shadow.errors import ShadowStoreError

    try:
        return read()
    except DatabaseError as exc:
        raise ShadowStoreError(
            f"cannot read the shadow observations in the control plane database ({exc}). Start the stack "
            "(`strangler up`), set STRANGLER_CONTROL_DATABASE_URL, or create its schema with "
            "`strangler routes list`. Nothing was changed.") from exc


def cmd_report(args: argparse.Namespace) -> int:
    _django()
    from strangler.control.shadow.store import DjangoObservationStore

    since = datetime.now(UTC) - args.since
    observations = _stored(lambda: DjangoObservationStore().since(args.capability, since))
    title = f"Shadow report: {args.capability or 'all capabilities'}, last {format_duration(args.since)}"
    return _emit(args, observations, title)


def cmd_replay(args: argparse.Namespace) -> int:
    from shadow.replay import read_corpus, replay
    from shadow.rules import RuleSet, parse_rules_file
    from shadow.sink import CandidateSink, SinkConfig
    from shadow.store import InMemoryObservationStore, ObservationStore

    rules = parse_rules_file(args.rules) if args.rules else RuleSet()
    corpus = list(read_corpus(args.flows, args.capability, set_headers=args.set_header))
    memory = InMemoryObservationStore()
    store: ObservationStore = memory
    if args.store:
        _django()
        from strangler.control.shadow.store import DjangoObservationStore

        store = _both(memory, DjangoObservationStore())
    sink = CandidateSink(SinkConfig(args.candidate, args.secondary), rules, store)

    async def run() -> int:
        try:
            return await replay(corpus, args.primary, sink, include_writes=args.include_writes,
                                concurrency=args.concurrency)
        finally:
            await sink.close()

    try:
        sent = asyncio.run(run())
    except (OSError, httpx.HTTPError) as exc:
        raise StranglerError(f"replay failed: the primary {args.primary} did not answer ({exc}); "
                             "nothing was recorded. Start it or fix --primary.") from exc
    console.print(f"replayed {sent} of {len(corpus)} recorded exchanges")
    return _emit(args, memory.observations, f"Shadow replay of {args.flows.name}")


def cmd_prune(args: argparse.Namespace) -> int:
    _django()
    from strangler.control.shadow.store import DjangoObservationStore

    before = datetime.now(UTC) - args.older_than
    gone = _stored(lambda: DjangoObservationStore().prune(before))
    console.print(f"pruned {gone} rows older than {args.older_than}")
    return 0


def _both(first: Any, second: Any) -> Any:
    """A store writing to two stores (replay keeps its own copy for the report)."""
    from shadow.store import ObservationStore

    class Both(ObservationStore):
        def add(self, observation: Any) -> None:
            first.add(observation)
            second.add(observation)

        def since(self, capability: str | None, since: datetime) -> list[Any]:
            return list(first.since(capability, since))

        def prune(self, before: datetime) -> int:
            return int(first.prune(before))

    return Both()
