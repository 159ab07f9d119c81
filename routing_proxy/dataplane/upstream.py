"""Upstream side: keep-alive connection pools and the HTTP/1.1 response parser protocol.

An UpstreamConnection carries one exchange at a time. Its response callbacks go
straight to a ``ResponseListener`` (the relay towards the client) so response
bytes are forwarded from the parser callback without a task switch. Interim (1xx)
responses go to ``on_informational``; after a 101 the connection is handed to the client
connection as a tunnel (``on_upgrade``) and never returns to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import httptools

from routing_proxy.breaker import CircuitBreaker
from routing_proxy.dataplane.config import UpstreamConfig
from routing_proxy.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)

if TYPE_CHECKING:
    from routing_proxy.dataplane.client import ClientConnection

# Told (soon after, never from inside a parser callback) how an exchange ended:
# (connection reusable, None) or (False, the failure).
OnDone = Callable[[bool, "UpstreamError | None"], None]


class ResponseListener(Protocol):
    def on_response_head(self, status: int, reason: bytes,
                         headers: list[tuple[bytes, bytes]]) -> bool:
        """Take the head; False refuses the response (it becomes an UpstreamStatusError)."""

    def on_response_body(self, data: bytes) -> None: ...

    def on_response_complete(self) -> None: ...

    def flush(self) -> None:
        """Write what the callbacks of one read produced, in one write."""

    def on_informational(self, status: int, reason: bytes,
                         headers: list[tuple[bytes, bytes]]) -> None:
        """An interim 1xx answer (100 Continue, 103 Early Hints), never a 101."""

    def on_upgrade(self, conn: UpstreamConnection, rest: bytes) -> bool:
        """After a 101: take ``conn`` as a tunnel (``rest``: the new protocol's first bytes)."""


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.received_any = False
        self.tunnel: ClientConnection | None = None  # after a 101: where upstream bytes go
        self._informational = False
        self._parser: httptools.HttpResponseParser | None = None
        self._listener: ResponseListener | None = None
        self._done: asyncio.Future[bool] | None = None
        self._on_done: OnDone | None = None
        self._head_only = False
        self._refused = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._last_activity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False

    # -- driven by the request handler ------------------------------------------------
    def start(self, data: bytes, listener: ResponseListener, head_only: bool,
              on_done: OnDone | None = None) -> asyncio.Future[bool] | None:
        """Send a request (or its head). Without ``on_done``, returns a future that resolves
        to 'connection reusable' (or fails); with it, returns None and calls it instead."""
        assert self.transport is not None
        self._listener = listener
        self._head_only = head_only
        self._refused = False
        self._informational = False
        self._reason = b""
        self._headers = []
        self.received_any = False
        if self._parser is None:  # kept across keep-alive exchanges; renewed after a HEAD
            self._parser = httptools.HttpResponseParser(self)
        done: asyncio.Future[bool] | None = None
        if on_done is None:
            self._done = done = self.loop.create_future()
        else:
            self._on_done = on_done
        self._last_activity = self.loop.time()
        if self._timer is None:  # else the running timer re-arms itself (_check_timeout)
            self._timer = self.loop.call_later(self.pool.config.response_timeout,
                                               self._check_timeout)
        self.transport.write(data)
        return done

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if self._write_paused and not self.closed:
            self._drain = self.loop.create_future()
            await self._drain

    def close(self) -> None:
        self.closed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        listener = self._listener
        if self._parser is None or listener is None:  # bytes nobody asked for: unusable
            self.close()
            return
        self.received_any = True
        self._last_activity = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:  # a 101 the listener accepted is complete
            self._parser = None
            listener.flush()
            if self.closed or not listener.on_upgrade(self, data[exc.args[0]:]):
                self.close()
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(self.pool.config.name, f"malformed response: {exc}"))
            self.close()
        finally:
            listener.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.tunnel is not None:
            self.tunnel.close()
        self._fail(UpstreamProtocolError(self.pool.config.name, "closed the connection"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.tunnel is not None:
            self.tunnel.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.tunnel is not None:
            self.tunnel.resume_reading()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------
    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self._listener is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # interim: the final answer follows
            self._informational = True
            self._listener.on_informational(status, self._reason, self._headers)
            return
        if not self._listener.on_response_head(status, self._reason, self._headers):
            self._refused = True
            self._fail(UpstreamStatusError(self.pool.config.name, status))
            self.close()
            return
        if self._head_only or status in (204, 304):
            self._complete(reusable=self._parser.should_keep_alive())
            self._parser = None  # a HEAD answer has no body whatever its Content-Length says

    def on_body(self, data: bytes) -> None:
        if self._listener is not None and not self._refused:
            self._listener.on_response_body(data)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self._parser is not None and not self._refused:
            self._complete(reusable=self._parser.should_keep_alive())

    # -- internals --------------------------------------------------------------------
    def _complete(self, reusable: bool) -> None:
        listener, done, on_done = self._listener, self._done, self._on_done
        self._listener = None
        self._done = self._on_done = None
        if listener is not None:
            listener.on_response_complete()
            listener.flush()  # the client gets this answer before anything that follows
        if done is not None and not done.done():
            done.set_result(reusable)
        elif on_done is not None:
            self.loop.call_soon(on_done, reusable, None)

    def _fail(self, error: UpstreamError) -> None:
        self._cancel_timer()
        done, self._done = self._done, None
        on_done, self._on_done = self._on_done, None
        self._listener = None
        if done is not None and not done.done():
            done.set_exception(error)
        elif on_done is not None:
            self.loop.call_soon(on_done, False, error)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_timeout(self) -> None:
        # One timer per connection, re-armed for the remainder instead of per exchange or
        # received chunk; it lapses when it finds no exchange in flight.
        self._timer = None
        if (self._done is None and self._on_done is None) or self.closed:
            return
        timeout = self.pool.config.response_timeout
        left = self._last_activity + timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._check_timeout)
            return
        self._timer = None
        self._fail(UpstreamTimeoutError(self.pool.config.name, f"no answer within {timeout:g}s"))
        self.close()


class UpstreamPool:
    """Keep-alive connections to one upstream, most recently used first."""

    def __init__(self, config: UpstreamConfig, loop: asyncio.AbstractEventLoop,
                 breaker: CircuitBreaker | None) -> None:
        self.config = config
        self.loop = loop
        self.breaker = breaker
        self.idle: list[UpstreamConnection] = []

    def take_idle(self) -> UpstreamConnection | None:
        """The most recently used idle connection still worth using, if any."""
        now = self.loop.time()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < self.config.idle_ttl:
                return conn
            conn.close()
        return None

    async def acquire(self) -> tuple[UpstreamConnection, bool]:
        """A connection and whether it was reused (a reused one may have gone stale)."""
        idle = self.take_idle()
        if idle is not None:
            return idle, True
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConnection(self),
                                            self.config.host, self.config.port),
                self.config.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectError(self.config.name, f"cannot connect ({exc!r})") from exc
        return conn, False

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed or len(self.idle) >= self.config.max_idle:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
