"""Keep-alive HTTP/1.1 connections to an already-checked address, pooled per target. Stdlib only.

The sender connects to the address the SSRF check approved, never to a name: the name goes
only into ``Host`` and, for HTTPS, into the TLS SNI and the certificate check. ``http.client``
never follows redirects. Why not httpx here: measured on this box against the bench's
receiver, a keep-alive POST costs about 95 µs of client CPU with ``http.client`` and 577 µs
with httpx (``bench/webhook_bench.py`` shares two cores between every stage, so the
sender's CPU is the pipeline's throughput).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections import OrderedDict
from typing import NamedTuple


class TargetKey(NamedTuple):
    scheme: str  # http | https
    server_name: str  # the URL's host: Host header, SNI, certificate name
    address: str  # the checked IP the connection goes to
    port: int


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TCP to ``address``; TLS with ``server_name`` as SNI and as the name the certificate must hold."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)  # type: ignore[attr-defined]


class ConnectionPool:
    """Idle keep-alive connections per target, at most ``per_target`` each and ``max_targets``
    targets (least recently used dropped). A connection is used by one thread at a time."""

    def __init__(self, per_target: int, max_targets: int = 64, tls: ssl.SSLContext | None = None) -> None:
        self.per_target, self.max_targets = per_target, max_targets
        self._tls = tls or ssl.create_default_context()
        self._idle: OrderedDict[TargetKey, list[http.client.HTTPConnection]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: TargetKey, connect_timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """(connection, whether it was used before): an idle one, else a new, unconnected one."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                self._idle.move_to_end(key)
                return idle.pop(), True
        if key.scheme == "https":
            return PinnedHTTPSConnection(key.address, key.port, key.server_name, self._tls,
                                         connect_timeout), False
        return http.client.HTTPConnection(key.address, key.port, timeout=connect_timeout), False

    def give_back(self, key: TargetKey, conn: http.client.HTTPConnection) -> None:
        dropped: list[http.client.HTTPConnection] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < self.per_target:
                idle.append(conn)
            else:
                dropped.append(conn)
            while len(self._idle) > self.max_targets:
                dropped += self._idle.popitem(last=False)[1]
        for extra in dropped:
            extra.close()

    def close(self) -> None:
        with self._lock:
            every = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in every:
            conn.close()
