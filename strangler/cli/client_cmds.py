"""``strangler client scenario|load``: the legacy client, as an oracle and as a load generator."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from strangler.cli.argtypes import positive_float, positive_int
from strangler.config import get_settings
from strangler.errors import StranglerError

console = Console()

STAFF_USERNAME = "ops"
STAFF_PASSWORD = "ops-dev-password"  # noqa: S105 (the seeded development staff user)


def register(subparsers: Any) -> None:
    client = subparsers.add_parser(
        "client", help="run the legacy client: the scripted merchant integration, or load",
        description="The legacy client is a scripted merchant integration. `scenario` runs every "
        "endpoint once and checks each answer; `load` runs N concurrent clients for T seconds and "
        "reports req/s and latency percentiles. API keys default to those `strangler seed` wrote.",
    )
    sub = client.add_subparsers(dest="client_command", metavar="MODE", required=True)
    for name, helptext in (("scenario", "run every endpoint once and check each answer"),
                           ("load", "N concurrent clients for T seconds; req/s and p50/p95/p99")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--url", help="base URL (default: the monolith, STRANGLER_MONOLITH_PORT)")
        p.add_argument("--api-key", action="append", dest="api_keys",
                       help="merchant API key (repeatable; default: the seeded keys)")
        if name == "load":
            p.add_argument("--concurrency", type=positive_int, default=8,
                           help="concurrent clients (default 8)")
            p.add_argument("--duration", type=positive_float, default=10.0, help="seconds (default 10)")
            p.add_argument("--json", dest="json_out", help="also write the report as JSON here")
            p.set_defaults(handler=cmd_load)
        else:
            p.set_defaults(handler=cmd_scenario)


def seeded_api_keys() -> list[str]:
    path = get_settings().home / "seed.json"
    try:
        keys = json.loads(path.read_text())["api_keys"]
    except FileNotFoundError:
        raise StranglerError(
            f"no API keys given and {path} does not exist. Run `strangler seed` first, or pass "
            "--api-key."
        ) from None
    return list(keys)


def run_scenario_and_print(url: str, api_key: str) -> Any:
    from legacy_client import run_scenario

    transcript = run_scenario(url, api_key=api_key, staff_username=STAFF_USERNAME,
                              staff_password=STAFF_PASSWORD)
    failed: dict[str, list[str]] = {}
    for failure in transcript.failures:
        failed.setdefault(failure.step, []).append(failure.message)
    table = Table("step", "request", "status", "result", title="legacy client scenario")
    for exchange in transcript.exchanges:
        messages = failed.pop(exchange.step, [])
        table.add_row(exchange.step, f"{exchange.method} {exchange.path}", str(exchange.status),
                      "[red]" + "; ".join(messages) + "[/]" if messages else "[green]ok[/]")
    for step, messages in failed.items():  # failures of steps that got no answer to record
        table.add_row(step, "", "", "[red]" + "; ".join(messages) + "[/]")
    console.print(table)
    console.print(f"{len(transcript.exchanges)} requests, {len(transcript.failures)} failed expectations")
    return transcript


def load_report_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "concurrency": report.concurrency, "duration_s": report.duration_s,
        "requests": report.requests, "requests_per_second": report.requests_per_second,
        "errors": {str(k): v for k, v in report.errors.items()},
        "latency": asdict(report.latency),
        "endpoints": {name: asdict(s) for name, s in report.endpoints.items()},
    }


def cmd_scenario(args: argparse.Namespace) -> int:
    url = args.url or get_settings().monolith_url
    keys = args.api_keys or seeded_api_keys()
    transcript = run_scenario_and_print(url, keys[0])
    return 0 if transcript.ok else 1


def cmd_load(args: argparse.Namespace) -> int:
    from legacy_client import run_load

    url = args.url or get_settings().monolith_url
    keys = args.api_keys or seeded_api_keys()
    report = run_load(url, api_keys=keys, concurrency=args.concurrency, duration_s=args.duration)
    console.print(report.table())
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(load_report_dict(report), fh, indent=2)
    return 0
