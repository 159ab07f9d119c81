"""Wiring of one proxy process: ``serve()`` and the ``python -m routing_proxy`` CLI.

The only place that reads a route file, installs uvloop and handles signals:
SIGHUP re-reads the route file (refused and logged if invalid or older),
SIGTERM/SIGINT stop the instance.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

import structlog
import uvloop

from routing_proxy.dataplane.config import ProxyConfig, UpstreamConfig
from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.errors import RouteTableError
from routing_proxy.routes import parse_route_file

log = structlog.get_logger("routing_proxy.app")


def build_config(monolith_url: str, extracted_url: str, **options: object) -> ProxyConfig:
    upstreams = {
        "monolith": UpstreamConfig.from_url("monolith", monolith_url),
        "extracted": UpstreamConfig.from_url("extracted", extracted_url),
    }
    return ProxyConfig(upstreams=upstreams, **options)  # type: ignore[arg-type]


def serve(table_path: str | Path, *, host: str, port: int, monolith_url: str,
          extracted_url: str, reuse_port: bool = False, access_log: bool = True) -> None:
    """Run one proxy instance until SIGTERM/SIGINT."""
    table = parse_route_file(table_path)
    config = build_config(monolith_url, extracted_url, access_log=access_log)
    uvloop.run(_run(ProxyServer(table, config), table_path, host, port, reuse_port))


async def _run(server: ProxyServer, table_path: str | Path, host: str, port: int,
               reuse_port: bool) -> None:
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
    log.info("proxy.listening", host=host, port=server.port, version=server.version,
             instance=server.config.instance_id)
    await stop.wait()
    await server.close()


def main(argv: Sequence[str] | None = None) -> None:
    from strangler.logging import configure

    parser = argparse.ArgumentParser(prog="python -m routing_proxy",
                                     description="Run one strangler routing proxy instance.")
    parser.add_argument("table", help="route table TOML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--monolith-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--extracted-url", required=True, help="e.g. http://127.0.0.1:8001")
    parser.add_argument("--reuse-port", action="store_true", help="share the port (SO_REUSEPORT)")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--log-format", choices=["console", "json"], default="json")
    args = parser.parse_args(argv)
    configure(args.log_format)
    try:
        serve(args.table, host=args.host, port=args.port, monolith_url=args.monolith_url,
              extracted_url=args.extracted_url, reuse_port=args.reuse_port,
              access_log=not args.no_access_log)
    except RouteTableError as exc:
        parser.exit(2, f"error: {exc}\n")
