"""``strangler up``, ``strangler db-migrate`` and ``strangler config``: the local stack."""

from __future__ import annotations

import argparse
import os
import signal
from dataclasses import fields
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from strangler.config import get_settings, mask_url_password
from strangler.stack.stack import Stack

console = Console()


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up", help="start the whole stack (monolith, Kafka, relay, control plane, extracted services, proxy)",
        description="Start what the stack needs and supervise it until Ctrl-C: PostgreSQL, a Kafka "
        "broker, the outbox relay, the monolith and its Celery worker, the control plane, the "
        "extracted ledger service (consumer, API, sync back to the legacy tables), a routing proxy "
        "in front, and beside them the control plane's Celery worker and beat, the webhook and "
        "notification services and, when no SMTP server is configured, an SMTP sink. What a "
        "STRANGLER_* variable configures is used; what it does not is started on embedded "
        "defaults. Logs go to $STRANGLER_HOME/logs/<process>.log.",
    )
    up.add_argument("--no-kafka", action="store_true",
                    help="do not start the embedded Kafka broker (implies --no-services)")
    up.add_argument("--no-worker", action="store_true", help="do not start the Celery worker")
    up.add_argument("--no-services", action="store_true",
                    help="only the monolith and its plumbing: no control plane, ledger service or proxy")
    up.add_argument("--no-side-services", action="store_true",
                    help="no control-plane worker and beat, webhook service or notification service "
                    "(lighter on a small machine)")
    up.set_defaults(handler=cmd_up)

    migrate = subparsers.add_parser(
        "db-migrate", help="create the databases and apply the monolith's migrations",
        description="Create the monolith and control-plane databases if missing (starting the "
        "embedded PostgreSQL if no URL is configured) and apply the monolith's Django migrations.",
    )
    migrate.set_defaults(handler=cmd_migrate)

    config = subparsers.add_parser(
        "config", help="show the effective settings, with secrets and passwords masked",
    )
    config.set_defaults(handler=cmd_config)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_up(args: argparse.Namespace) -> int:
    settings = get_settings()
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # started with `&` from a script, SIGINT arrives ignored; `kill -INT` must still stop it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        services = not (args.no_services or args.no_kafka)
        side = services and not args.no_side_services
        stack.start(with_kafka=not args.no_kafka, with_worker=not args.no_worker, services=services,
                    side_services=side)
        ready = Table("", "", title="[bold green]ready[/] (Ctrl-C stops)", show_header=False)
        if services:
            ready.add_row("clients → proxy", settings.proxy_url)
            ready.add_row("control plane", f"{settings.control_url}/api/  (admin /admin/)")
            ready.add_row("ledger service", settings.ledger_url)
        if side:
            ready.add_row("webhook service", f"{settings.webhooks_url}/api/")
            ready.add_row("notification service", settings.notifications_url)
            if not os.environ.get("STRANGLER_NOTIFICATIONS_SMTP_HOST"):
                ready.add_row("mail (embedded SMTP sink)", str(settings.home / "mail"))
        ready.add_row("monolith", settings.monolith_url)
        if not args.no_kafka:
            ready.add_row("kafka", settings.kafka_bootstrap_servers)
        ready.add_row("logs", str(settings.log_dir))
        console.print(ready)
        stack.watch()
    except KeyboardInterrupt:
        console.print("shutting down")
    finally:
        stack.stop()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    try:
        stack.prepare_databases()
    finally:
        stack.stop()
    console.print("[green]migrated[/]")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = get_settings()
    table = Table("setting", "value")
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "secret_key":
            value = "(set)" if value and "dev-only" not in value else "(development default)"
        elif isinstance(value, str) and "://" in value:
            value = mask_url_password(value)
        table.add_row(f.name, str(value))
    console.print(table)
    return 0
