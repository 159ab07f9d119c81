"""What every extracted service's event worker does on the command line, at start and at stop.

The ledger consumer, the webhook consumer and the notification worker take the same options
(Kafka, consumer group, metrics port, log format) and start and stop the same way; each adds
its own options to the parser this returns.
"""

from __future__ import annotations

import argparse
import signal
import threading


def worker_parser(prog: str, description: str, group: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--bootstrap-servers", help="Kafka (default STRANGLER_KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--group", default=group)
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics (0: off)")
    parser.add_argument("--log-format", choices=["console", "json"], default="json")
    return parser


def start_worker(args: argparse.Namespace) -> str:
    """Logging configured, metrics served if asked; returns the Kafka bootstrap servers."""
    from prometheus_client import start_http_server

    from strangler.config import get_settings
    from strangler.logging import configure

    configure(args.log_format)
    if args.metrics_port:
        start_http_server(args.metrics_port)
    return str(args.bootstrap_servers or get_settings().kafka_bootstrap_servers)


def stop_on_signals() -> threading.Event:
    """Set by SIGTERM or SIGINT: the worker finishes the batch in hand and stops."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
