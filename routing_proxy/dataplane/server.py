"""ProxyServer: one data-plane instance — listening socket, upstream pools, behaviours.

The control plane's seam is ``reload(table)``: it swaps the RouteTable atomically
(by version) and returns whether the new table now serves. Instances share
nothing; run several on one port with ``reuse_port=True`` (SO_REUSEPORT).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from routing_proxy.breaker import CircuitBreaker
from routing_proxy.dataplane.access_log import AccessLog
from routing_proxy.dataplane.behaviours import Behaviours, build_behaviours
from routing_proxy.dataplane.client import ClientConnection, Exchange
from routing_proxy.dataplane.config import ProxyConfig
from routing_proxy.dataplane.handler import RequestHandler
from routing_proxy.dataplane.http import error_response
from routing_proxy.dataplane.metrics import ProxyMetrics
from routing_proxy.dataplane.shadow import ShadowSink
from routing_proxy.dataplane.upstream import UpstreamPool
from routing_proxy.decision import MONOLITH
from routing_proxy.errors import UpstreamError
from routing_proxy.routes import RouteTable

log = structlog.get_logger("routing_proxy.server")


class ProxyServer:
    def __init__(self, table: RouteTable, config: ProxyConfig, *,
                 shadow_sink: ShadowSink | None = None, metrics: ProxyMetrics | None = None,
                 access_log: AccessLog | None = None) -> None:
        self.config = config
        self.behaviours: Behaviours = build_behaviours(
            config, table, shadow_sink=shadow_sink, metrics=metrics, access_log=access_log)
        self.connections: set[ClientConnection] = set()
        self._tasks: dict[ClientConnection, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pools: dict[str, UpstreamPool] = {}
        self._handler: RequestHandler | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "ProxyServer.start() has not run"
        return self._loop

    @property
    def metrics(self) -> ProxyMetrics:
        return self.behaviours.metrics

    @property
    def table(self) -> RouteTable:
        return self.behaviours.router.table

    @property
    def version(self) -> int:
        return self.behaviours.router.version

    def reload(self, table: RouteTable) -> bool:
        """Serve ``table`` from the next request; raises StaleRouteTableError if older."""
        swapped = self.behaviours.router.reload(table)
        if swapped:
            log.info("proxy.table_reloaded", version=table.version)
        return swapped

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0, *,
                    reuse_port: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        for name, upstream in self.config.upstreams.items():
            # The monolith is the last resort: a breaker would only turn its errors into 503s.
            breaker = None if name == MONOLITH else CircuitBreaker(
                upstream.breaker_failures, upstream.breaker_reset)
            self.pools[name] = UpstreamPool(upstream, self._loop, breaker)
        self._handler = RequestHandler(self.behaviours, self.pools, self._loop, self._spawn)
        self.behaviours.shadow.start()
        self.behaviours.access_log.start(self._loop)
        self._server = await self._loop.create_server(
            lambda: ClientConnection(self), host, port, reuse_port=reuse_port or None,
            backlog=1024,
        )

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        for _ in range(4):  # let exchanges in flight without a task see it and finish (counted)
            await asyncio.sleep(0)
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pool in self.pools.values():
            pool.close()
        await self.behaviours.shadow.stop()
        self.behaviours.access_log.close()
        if self._server is not None:
            await self._server.wait_closed()

    # -- used by client connections ----------------------------------------------------
    def start_exchange(self, client: ClientConnection, exchange: Exchange) -> None:
        assert self._handler is not None
        if not self._handler.begin(client, exchange):
            self._spawn(client, exchange, None)

    def _spawn(self, client: ClientConnection, exchange: Exchange,
               first_error: UpstreamError | None) -> None:
        task = self.loop.create_task(self._run(client, exchange, first_error))
        self._tasks[client] = task

    def cancel_task(self, client: ClientConnection) -> None:
        task = self._tasks.pop(client, None)
        if task is not None and not task.done():
            task.cancel()

    async def _run(self, client: ClientConnection, exchange: Exchange,
                   first_error: UpstreamError | None) -> None:
        assert self._handler is not None
        try:
            await self._handler.handle(client, exchange, first_error)
        except asyncio.CancelledError:
            exchange.must_close = True
            raise
        except Exception:
            log.exception("proxy.handler_crashed", request_id=exchange.head.request_id)
            exchange.must_close = True
            if not exchange.response_started:
                client.write(error_response(500, "proxy_error", "The proxy failed.",
                                            exchange.head.request_id))
        finally:
            # While this exchange is active no other task starts for this client (the next
            # one starts in finished()), so the entry, if still there, is this task's.
            self._tasks.pop(client, None)
            client.finished(exchange)
