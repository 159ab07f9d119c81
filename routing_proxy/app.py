"""Wiring of one proxy process: ``serve()`` and the ``python -m routing_proxy`` CLI.

The only place that reads a route file, installs uvloop and handles signals:
SIGHUP re-reads the route file (refused and logged if invalid or older),
SIGTERM/SIGINT stop the instance. With ``control_database_url`` instead of a file,
the instance follows the control plane (``routing_proxy.control_client``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence
from pathlib import Path

import structlog
import uvloop

from routing_proxy.control_client import ControlClient, ControlClientConfig, fetch_latest
from routing_proxy.dataplane.config import ProxyConfig, UpstreamConfig
from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.errors import RouteTableError
from routing_proxy.metrics_endpoint import expose_metrics
from routing_proxy.routes import RouteTable, parse_route_file

log = structlog.get_logger("routing_proxy.app")


def build_config(monolith_url: str, extracted_url: str, **options: object) -> ProxyConfig:
    upstreams = {
        "monolith": UpstreamConfig.from_url("monolith", monolith_url),
        "extracted": UpstreamConfig.from_url("extracted", extracted_url),
    }
    return ProxyConfig(upstreams=upstreams, **options)  # type: ignore[arg-type]


def serve(table_path: str | Path | None = None, *, host: str, port: int, monolith_url: str,
          extracted_url: str, reuse_port: bool = False, access_log: bool = True,
          control_database_url: str | None = None, poll_interval: float = 2.0,
          listen: bool = True, metrics_port: int | None = None) -> None:
    """Run one proxy instance until SIGTERM/SIGINT, from a route file or the control plane."""
    config = build_config(monolith_url, extracted_url, access_log=access_log)
    if control_database_url is not None:
        control = ControlClientConfig(control_database_url, poll_interval=poll_interval, listen=listen)
        uvloop.run(_run_attached(config, control, host, port, reuse_port, metrics_port))
        return
    if table_path is None:
        raise ValueError("serve() needs a route file or a control_database_url")
    table = parse_route_file(table_path)
    uvloop.run(_run(ProxyServer(table, config), table_path, host, port, reuse_port, metrics_port))


def _maybe_expose_metrics(server: ProxyServer, host: str, metrics_port: int | None) -> None:
    if metrics_port is None:
        return
    httpd = expose_metrics(server, host, metrics_port)
    log.info("proxy.metrics", url=f"http://{host}:{httpd.server_port}/metrics")


async def _run_attached(config: ProxyConfig, control: ControlClientConfig, host: str, port: int,
                        reuse_port: bool, metrics_port: int | None = None) -> None:
    import psycopg

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Start on the newest published table rather than serve version 0 for a moment.
    table: RouteTable | None = None
    try:
        async with await psycopg.AsyncConnection.connect(control.database_url) as conn:
            table = await fetch_latest(conn)
    except (psycopg.Error, OSError, RouteTableError) as exc:
        log.warning("proxy.initial_table_unavailable", error=str(exc))
    server = ProxyServer(table or RouteTable(0), config)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await server.start(host, port, reuse_port=reuse_port)
    _maybe_expose_metrics(server, host, metrics_port)
    client = ControlClient(server, control, host)
    follower = loop.create_task(client.run())
    log.info("proxy.listening", host=host, port=server.port, version=server.version,
             instance=config.instance_id, control_plane=True)
    await stop.wait()
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    await client.deregister()
    await server.close()


async def _run(server: ProxyServer, table_path: str | Path, host: str, port: int,
               reuse_port: bool, metrics_port: int | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def reload() -> None:
        try:
            server.reload(parse_route_file(table_path))
        except RouteTableError as exc:
            log.error("proxy.reload_refused", error=str(exc), serving=server.version)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await server.start(host, port, reuse_port=reuse_port)
    _maybe_expose_metrics(server, host, metrics_port)
    log.info("proxy.listening", host=host, port=server.port, version=server.version,
             instance=server.config.instance_id)
    await stop.wait()
    await server.close()


def main(argv: Sequence[str] | None = None) -> None:
    from strangler.logging import configure

    parser = argparse.ArgumentParser(prog="python -m routing_proxy",
                                     description="Run one strangler routing proxy instance.")
    parser.add_argument("table", nargs="?", help="route table TOML file (or --control-database-url)")
    parser.add_argument("--control-database-url",
                        help="follow the control plane in this PostgreSQL database instead of a file")
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="control plane polling fallback, seconds (default 2)")
    parser.add_argument("--no-listen", action="store_true",
                        help="poll only; do not LISTEN for changes (for benchmarks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--monolith-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--extracted-url", required=True, help="e.g. http://127.0.0.1:8001")
    parser.add_argument("--reuse-port", action="store_true", help="share the port (SO_REUSEPORT)")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--metrics-port", type=int,
                        help="serve Prometheus /metrics on this port (0 = any free port; off by default)")
    parser.add_argument("--log-format", choices=["console", "json"], default="json")
    args = parser.parse_args(argv)
    configure(args.log_format)
    if (args.table is None) == (args.control_database_url is None):
        parser.error("give either a route table file or --control-database-url (not both)")
    try:
        serve(args.table, host=args.host, port=args.port, monolith_url=args.monolith_url,
              extracted_url=args.extracted_url, reuse_port=args.reuse_port,
              access_log=not args.no_access_log, control_database_url=args.control_database_url,
              poll_interval=args.poll_interval, listen=not args.no_listen,
              metrics_port=args.metrics_port)
    except RouteTableError as exc:
        parser.exit(2, f"error: {exc}\n")
