"""Keeps one proxy instance on the control plane's newest route table, and reports what it runs.

The control plane publishes each change as a row of ``strangler_route_table_version``
and ``NOTIFY strangler_routes, '<version>'`` in the same transaction. This client
LISTENs for that, and also polls every ``poll_interval`` seconds in case a
notification is missed (a dropped connection loses them). On news it fetches the
newest snapshot, builds a RouteTable and calls ``server.reload``; then it acks by
upserting its row in ``strangler_proxy_instance`` (the heartbeat), which it also does
every ``heartbeat_interval`` seconds, flushing the per-route traffic counts with it
(``routing_proxy.traffic``). Raw SQL on purpose: the data plane does not
import Django. If the control database is unreachable the proxy keeps serving the
table it has and reconnects.

``table_from_snapshot`` is the pure codec between the control plane's JSON snapshot
and ``RouteTable``; the control plane uses it to validate a table before publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.errors import RouteTableError
from routing_proxy.routes import Capability, KeyKind, KeySource, Mode, RouteRule, RouteTable, StickyKey
from routing_proxy.traffic import flush as flush_traffic

log = structlog.get_logger("routing_proxy.control_client")

CHANNEL = "strangler_routes"
_LATEST = ("SELECT version, snapshot FROM strangler_route_table_version "
           "WHERE version > %s ORDER BY version DESC LIMIT 1")
_HEARTBEAT = """
INSERT INTO strangler_proxy_instance
    (instance_id, host, port, version, applied_at, started_at, last_heartbeat)
VALUES (%(id)s, %(host)s, %(port)s, %(version)s, clock_timestamp(), clock_timestamp(), clock_timestamp())
ON CONFLICT (instance_id) DO UPDATE SET
    version = EXCLUDED.version, host = EXCLUDED.host, port = EXCLUDED.port,
    applied_at = CASE WHEN strangler_proxy_instance.version = EXCLUDED.version
                      THEN strangler_proxy_instance.applied_at ELSE clock_timestamp() END,
    last_heartbeat = clock_timestamp()
"""


# -- the snapshot codec (pure) ---------------------------------------------------------
def table_from_snapshot(version: int, snapshot: dict[str, Any]) -> RouteTable:
    """Build (and so validate) the RouteTable a published snapshot describes."""
    try:
        capabilities = tuple(_capability(c) for c in snapshot.get("capabilities", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise RouteTableError(f"route table snapshot v{version} is malformed ({exc!r}); "
                              "kept the serving table. Publish a corrected version.") from exc
    return RouteTable(version, capabilities, bool(snapshot.get("kill_switch", False)))


def _capability(raw: dict[str, Any]) -> Capability:
    sticky = raw.get("sticky_key")
    key = None if not sticky else StickyKey(KeyKind(sticky["kind"]), KeySource(sticky["source"]),
                                            str(sticky["name"]))
    rules = tuple(
        RouteRule(r["method"], r["path"], r.get("host"),
                  (str(r["header"][0]), str(r["header"][1])) if r.get("header") else None,
                  upstream_path=r.get("upstream_path"))
        for r in raw["rules"])
    return Capability(name=raw["name"], rules=rules, mode=Mode(raw["mode"]),
                      canary_basis_points=int(raw.get("canary_basis_points", 0)), sticky_key=key,
                      upstream=str(raw.get("upstream", "extracted")),
                      fallback=bool(raw.get("fallback", True)), killed=bool(raw.get("killed", False)))


async def fetch_latest(conn: psycopg.AsyncConnection[Any], newer_than: int = -1) -> RouteTable | None:
    """The newest published table above ``newer_than``, or None."""
    cursor = await conn.execute(_LATEST, (newer_than,))
    row = await cursor.fetchone()
    return None if row is None else table_from_snapshot(int(row[0]), row[1])


# -- the client ------------------------------------------------------------------------
@dataclass(frozen=True)
class ControlClientConfig:
    database_url: str
    poll_interval: float = 2.0  # fallback when a notification is lost
    heartbeat_interval: float = 1.0
    listen: bool = True  # False: polling only (the benchmark's baseline)
    reconnect_delay: float = 1.0


class ControlClient:
    def __init__(self, server: ProxyServer, config: ControlClientConfig, host: str = "127.0.0.1") -> None:
        self.server = server
        self.config = config
        self.host = host
        self.connected = asyncio.Event()
        self._refused_version = -1

    async def run(self) -> None:
        """Follow the control plane until cancelled; reconnect after any database failure."""
        while True:
            try:
                await self._session()
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                log.warning("proxy.control_plane_unreachable", error=str(exc),
                            serving=self.server.version, retry_in=self.config.reconnect_delay)
                await asyncio.sleep(self.config.reconnect_delay)

    async def deregister(self) -> None:
        """Remove this instance's row on a clean stop, so status lists only live instances."""
        with contextlib.suppress(psycopg.Error, OSError):
            async with await psycopg.AsyncConnection.connect(self.config.database_url,
                                                             autocommit=True) as conn:
                await conn.execute("DELETE FROM strangler_proxy_instance WHERE instance_id = %s",
                                   (self.server.config.instance_id,))

    async def _session(self) -> None:
        cfg = self.config
        async with await psycopg.AsyncConnection.connect(cfg.database_url, autocommit=True) as conn:
            if cfg.listen:
                await conn.execute(f"LISTEN {CHANNEL}")
            await self._refresh(conn)
            await self._heartbeat(conn)
            self.connected.set()
            next_poll = time.monotonic() + cfg.poll_interval
            next_beat = time.monotonic() + cfg.heartbeat_interval
            while True:
                wait = max(0.0, min(next_poll, next_beat) - time.monotonic())
                notified = await self._wait(conn, wait)
                now = time.monotonic()
                if notified or now >= next_poll:
                    if await self._refresh(conn):
                        await self._heartbeat(conn)  # the ack: sooner than the next beat
                        next_beat = now + cfg.heartbeat_interval
                    next_poll = now + cfg.poll_interval
                if now >= next_beat:
                    await self._heartbeat(conn)
                    next_beat = now + cfg.heartbeat_interval

    async def _wait(self, conn: psycopg.AsyncConnection[Any], timeout: float) -> bool:
        if not self.config.listen:
            await asyncio.sleep(timeout)
            return False
        async for _ in conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    async def _refresh(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Apply the newest table if there is one; True when a new version now serves."""
        try:
            table = await fetch_latest(conn, self.server.version)
        except RouteTableError as exc:
            if self._refused_version != self.server.version:
                log.error("proxy.reload_refused", error=str(exc), serving=self.server.version)
                self._refused_version = self.server.version
            return False
        if table is None:
            return False
        try:
            return self.server.reload(table)
        except RouteTableError as exc:
            log.error("proxy.reload_refused", error=str(exc), serving=self.server.version)
            return False

    async def _heartbeat(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(_HEARTBEAT, {"id": self.server.config.instance_id, "host": self.host,
                                        "port": self._port(), "version": self.server.version})
        try:
            await flush_traffic(conn, self.server.behaviours.router.traffic)
        except psycopg.Error as exc:  # the record must never cost the heartbeat; counts are kept
            log.warning("proxy.traffic_flush_failed", error=str(exc))

    def _port(self) -> int:
        try:
            return self.server.port
        except AssertionError:
            return 0
