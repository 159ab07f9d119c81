"""Wiring of one proxy process: ``serve()`` and the ``python -m routing_proxy`` CLI.

The only place that reads a route file, installs uvloop and handles signals:
SIGHUP re-reads the route file (refused and logged if invalid or older),
SIGTERM/SIGINT stop the instance. With ``control_database_url`` instead of a file,
the instance follows the control plane (``routing_proxy.control_client``).

With ``--shadow-compare`` (``strangler proxy`` passes it unless told ``--no-shadow``)
shadow copies are compared and kept in a database (``--shadow-database-url``, by
default the control plane's): the ShadowSink is a ``shadow.worker.ComparatorProcess``
whose worker process starts on the first shadow copy. On stop the data plane hands
every queued copy to it, then it compares and stores what it was given before the
instance exits. Without it, shadow mode serves the monolith and copies nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import uvloop

from routing_proxy.control_client import ControlClient, ControlClientConfig, fetch_latest
from routing_proxy.dataplane.config import ProxyConfig, UpstreamConfig
from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.errors import RouteTableError
from routing_proxy.fence import FenceConfig
from routing_proxy.metrics_endpoint import expose_metrics
from routing_proxy.routes import RouteTable, parse_route_file

if TYPE_CHECKING:
    from shadow.wiring import ComparatorOptions
    from shadow.worker import ComparatorProcess

log = structlog.get_logger("routing_proxy.app")
COMPARATOR_CLOSE_TIMEOUT = 8.0  # under the 10 s `strangler proxy` gives a child before killing it


def build_config(monolith_url: str, extracted_url: str, **options: object) -> ProxyConfig:
    upstreams = {
        "monolith": UpstreamConfig.from_url("monolith", monolith_url),
        "extracted": UpstreamConfig.from_url("extracted", extracted_url),
    }
    return ProxyConfig(upstreams=upstreams, **options)  # type: ignore[arg-type]


def serve(table_path: str | Path | None = None, *, host: str, port: int, monolith_url: str,
          extracted_url: str, reuse_port: bool = False, access_log: bool = True,
          control_database_url: str | None = None, poll_interval: float = 2.0,
          listen: bool = True, metrics_port: int | None = None,
          comparator: ComparatorOptions | None = None, fence: FenceConfig | None = None) -> None:
    """Run one proxy instance until SIGTERM/SIGINT, from a route file or the control plane.

    ``comparator``: compare shadow copies (see the module docstring); None copies nothing.
    ``fence``: the read-your-writes fence (``routing_proxy.fence``); None: its defaults, on.
    """
    config = build_config(monolith_url, extracted_url, access_log=access_log,
                          fence=fence or FenceConfig())
    sink = _comparator(comparator)
    if control_database_url is not None:
        control = ControlClientConfig(control_database_url, poll_interval=poll_interval, listen=listen)
        uvloop.run(_run_attached(config, control, host, port, reuse_port, metrics_port, sink))
        return
    if table_path is None:
        raise ValueError("serve() needs a route file or a control_database_url")
    table = parse_route_file(table_path)
    uvloop.run(_run(ProxyServer(table, config, shadow_sink=sink), table_path, host, port, reuse_port,
                    metrics_port, sink))


def _comparator(options: ComparatorOptions | None) -> ComparatorProcess | None:
    if options is None:
        return None
    from shadow.wiring import build_comparator

    return build_comparator(options)


async def _close_comparator(sink: ComparatorProcess | None) -> None:
    """After the server closed (its queued copies handed over): compare and store them, then stop."""
    if sink is None:
        return
    await asyncio.to_thread(sink.close, COMPARATOR_CLOSE_TIMEOUT)
    log.info("proxy.shadow_comparator_closed", proxy=dict(sink.counts), worker=sink.worker_counts,
             worker_cpu_s=sink.worker_cpu_s)


def _maybe_expose_metrics(server: ProxyServer, host: str, metrics_port: int | None) -> None:
    if metrics_port is None:
        return
    httpd = expose_metrics(server, host, metrics_port)
    log.info("proxy.metrics", url=f"http://{host}:{httpd.server_port}/metrics")


async def _run_attached(config: ProxyConfig, control: ControlClientConfig, host: str, port: int,
                        reuse_port: bool, metrics_port: int | None = None,
                        sink: ComparatorProcess | None = None) -> None:
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
    server = ProxyServer(table or RouteTable(0), config, shadow_sink=sink)
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
    await _close_comparator(sink)


async def _run(server: ProxyServer, table_path: str | Path, host: str, port: int,
               reuse_port: bool, metrics_port: int | None = None,
               sink: ComparatorProcess | None = None) -> None:
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
    await _close_comparator(sink)


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
    add_shadow_arguments(parser)
    add_fence_arguments(parser)
    args = parser.parse_args(argv)
    configure(args.log_format)
    if (args.table is None) == (args.control_database_url is None):
        parser.error("give either a route table file or --control-database-url (not both)")
    if args.shadow_compare and not (args.shadow_database_url or args.control_database_url):
        parser.error("--shadow-compare stores observations: add --shadow-database-url (or follow the "
                     "control plane with --control-database-url)")
    try:
        fence = fence_config(args)
    except ValueError as exc:
        parser.error(str(exc))
    from shadow.errors import RulesFileError

    try:
        serve(args.table, host=args.host, port=args.port, monolith_url=args.monolith_url,
              extracted_url=args.extracted_url, reuse_port=args.reuse_port,
              access_log=not args.no_access_log, control_database_url=args.control_database_url,
              poll_interval=args.poll_interval, listen=not args.no_listen,
              metrics_port=args.metrics_port, comparator=comparator_options(args),
              fence=fence)
    except RouteTableError as exc:
        parser.exit(2, f"error: {exc}\n")
    except RulesFileError as exc:
        parser.exit(exc.exit_code, f"error: {exc}\n")


def add_fence_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the read-your-writes fence (``routing_proxy.fence``)."""
    group = parser.add_argument_group("read-your-writes fence")
    group.add_argument("--no-read-your-writes", action="store_true",
                       help="do not fence extracted reads after a client's own writes (not for "
                            "production: a client may then read what it wrote as not yet there)")
    group.add_argument("--fence-window", type=float, default=FenceConfig.window,
                       help="seconds after a write its client's extracted reads are fenced "
                            f"(default {FenceConfig.window:g})")
    group.add_argument("--fence-wait", type=float, default=FenceConfig.wait,
                       help="seconds the extracted service may wait for the writes "
                            f"(default {FenceConfig.wait:g})")
    group.add_argument("--fence-write-path", action="append", metavar="PREFIX",
                       help="only writes under this path prefix leave a token (repeatable; "
                            f"default: {' '.join(FenceConfig.write_paths)}; '/' is every write)")


def fence_config(args: argparse.Namespace) -> FenceConfig:
    return FenceConfig(enabled=not args.no_read_your_writes, window=args.fence_window,
                       wait=args.fence_wait,
                       write_paths=tuple(args.fence_write_path or FenceConfig.write_paths))


def add_shadow_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the shadow comparator (shared with ``strangler proxy``)."""
    group = parser.add_argument_group("shadow comparison")
    group.add_argument("--shadow-compare", action="store_true",
                       help="compare shadow copies with the candidate and store the observations "
                            "(without it shadow mode only serves the monolith)")
    group.add_argument("--shadow-database-url",
                       help="keep observations in this control plane database "
                            "(default: --control-database-url)")
    group.add_argument("--shadow-rules", help="diff rules TOML file (default: built-in defaults)")
    group.add_argument("--shadow-secondary-url",
                       help="a second monolith instance answering the same copies, for noise cancellation")
    group.add_argument("--shadow-effects-database-url",
                       help="the monolith's database: compare shadowed writes' side effects with its outbox")
    group.add_argument("--shadow-token", default="1",
                       help="value of X-Strangler-Shadow; candidates may require it (default 1)")


def comparator_options(args: argparse.Namespace) -> ComparatorOptions | None:
    """What the comparator needs from the command line; None when shadow copies are not compared."""
    database = args.shadow_database_url or args.control_database_url
    if not args.shadow_compare or database is None:
        return None
    from shadow.wiring import ComparatorOptions

    return ComparatorOptions(args.extracted_url, database, rules_path=args.shadow_rules,
                             secondary_url=args.shadow_secondary_url,
                             effects_database_url=args.shadow_effects_database_url,
                             shadow_token=args.shadow_token)
