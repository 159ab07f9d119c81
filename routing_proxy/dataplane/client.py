"""Client side: one asyncio Protocol per client connection, parsing with httptools.

Enforces the request limits (head size -> 431, body size -> 413, a head not
finished in time -> 408, malformed HTTP -> 400) and answers them itself, then
closes. Requests on one keep-alive connection are handled strictly in order;
pipelined ones wait with reading paused.

``Expect: 100-continue`` is passed to the upstream, whose ``100 Continue`` (or final
answer) the relay passes back. A protocol upgrade (``Upgrade`` + ``Connection: upgrade``,
e.g. WebSocket) is forwarded as such; after the upstream's 101 the connection becomes a
tunnel to that upstream connection: bytes are piped both ways, with backpressure, until
either side closes. Any other answer is relayed and the client connection closed.
CONNECT, and upgrade requests with a body, get a 400.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import TYPE_CHECKING

import httptools
import structlog

from routing_proxy.dataplane.body import RequestBody
from routing_proxy.dataplane.http import RequestHead, error_response
from routing_proxy.decision import UNMATCHED, Decision
from routing_proxy.errors import ClientRequestError
from routing_proxy.fence import FencedRead
from routing_proxy.paths import canonical_path

if TYPE_CHECKING:
    from routing_proxy.dataplane.server import ProxyServer
    from routing_proxy.dataplane.upstream import UpstreamConnection

log = structlog.get_logger("routing_proxy.client")
# A path starting with "/" without any of these is returned unchanged by canonical_path.
_NEEDS_CANONICAL = re.compile(r"[%.\\\x00-\x1f\x7f]|//")


class Exchange:
    """One request on a client connection, from its head to the end of its response."""

    __slots__ = ("body", "decision", "extracted_target", "fell_back", "fence", "fence_result",
                 "fence_vouches", "head", "must_close", "reader", "response_started", "route_key",
                 "started", "upstream", "writer")

    def __init__(self, head: RequestHead, body: RequestBody) -> None:
        self.head = head
        self.body = body
        self.decision: Decision = UNMATCHED
        self.fence: FencedRead | None = None  # read-your-writes headers for the extracted upstream
        self.fence_result: str | None = None  # what the extracted upstream said about them
        # a fenced read: served only if the upstream vouches, else it falls back; a fenced write
        # (False) is relayed whatever the upstream says, since nothing can take it over
        self.fence_vouches = False
        self.response_started = False
        self.must_close = False
        self.started = 0.0  # loop time the handler took it up; the shadow copy's primary latency
        self.upstream = ""  # where it is being sent (the monolith after a fallback)
        self.fell_back = False
        self.route_key: tuple[str, str] | None = None  # the matched rule, for the traffic record
        self.extracted_target: bytes | None = None  # a shim's target on the extracted side
        self.writer: str | None = None  # the client identity, when the fence tracks this write
        self.reader: str | None = None  # ... or fences this read, or this write to an extracted service


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.config = server.config
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = ""
        self.closing = False
        self.upstream: UpstreamConnection | None = None  # paused when this client reads slowly
        self.tunnel: UpstreamConnection | None = None  # after a 101: where client bytes go
        self._early: bytearray | None = None  # bytes after an upgrade request's head, held
        self._in_head = False
        self._head_size = 0
        self._raw_head = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._incoming: Exchange | None = None
        self._active: Exchange | None = None
        self._pending: deque[Exchange] = deque()
        # One lazily re-armed timer per connection: changing what is watched (head, body,
        # idle) only moves a deadline; the timer, when it fires early, re-arms for the rest.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._timer_kind = ""
        self._deadline = 0.0
        self._last_body = 0.0

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""
        self.server.connections.add(self)
        self._arm("head", self.config.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.tunnel is not None:
            self.tunnel.close()
        elif self._active is not None and self.upstream is not None:
            self.upstream.close()  # nobody will read the answer
        self.server.connections.discard(self)
        self._drop_timer()
        for exchange in (self._incoming, self._active):
            if exchange is not None and not exchange.body.done:
                exchange.body.fail(ConnectionResetError("client went away"))
        self.server.cancel_task(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self._early is not None:  # the upgrade is not answered yet: hold (reading paused)
            self._early += data
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, ClientRequestError):
                self.reject(cause)
            else:
                log.error("proxy.internal_error", error=repr(cause))
                self.reject(ClientRequestError(500, "proxy_error", "The proxy failed."))
        except httptools.HttpParserUpgrade as exc:
            # The upgrade request is complete (on_headers_complete vetted it); what follows
            # belongs to the new protocol, or to nobody if the upstream refuses it.
            self._early = bytearray(data[exc.args[0]:])
            if self.transport is not None:
                self.transport.pause_reading()
        except httptools.HttpParserError as exc:
            self.reject(ClientRequestError(400, "bad_request", f"Malformed HTTP request: {exc}."))
        else:
            # httptools buffers an unfinished header line itself; bound what it may hold.
            if self._in_head:
                self._raw_head += len(data)
                if self._raw_head > self.config.max_header_bytes:
                    self.reject(_too_large_head(self.config.max_header_bytes))

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    # -- httptools callbacks ----------------------------------------------------------
    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_size = 0
        self._raw_head = 0
        self._url = b""
        self._headers = []
        if self._timer_kind != "head":
            self._arm("head", self.config.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self.config.max_header_bytes:
            raise _too_large_head(self.config.max_header_bytes)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_timer()
        if self.parser.get_method() == b"CONNECT":  # before its authority-form target is parsed
            raise ClientRequestError(400, "bad_request",
                                     "CONNECT is not supported: this is a reverse proxy.")
        head = self._build_head()
        if head.content_length is not None and head.content_length > self.config.max_body_bytes:
            raise _too_large_body(self.config.max_body_bytes)
        if self.parser.should_upgrade():
            if head.chunked or head.content_length:
                raise ClientRequestError(400, "bad_request",
                                         "A protocol upgrade request must not have a body.")
            head.upgrade = head.headers.get("upgrade", "").encode("latin-1")
        elif head.headers.get("expect", "").lower() == "100-continue":
            head.expect_continue = head.http_version == "1.1"
        exchange = Exchange(head, RequestBody(self._flow))
        self._incoming = exchange
        if head.chunked or head.content_length:
            self._last_body = self.loop.time()
            self._arm("body", self.config.body_timeout)
            self._queue(exchange)  # its body streams to the upstream as it arrives
        # else on_message_complete, which follows at once, queues it with its (empty) body done

    def on_body(self, data: bytes) -> None:
        exchange = self._incoming
        assert exchange is not None
        self._last_body = self.loop.time()
        exchange.body.feed(data)
        if exchange.body.size > self.config.max_body_bytes:
            raise _too_large_body(self.config.max_body_bytes)

    def on_message_complete(self) -> None:
        exchange, self._incoming = self._incoming, None
        if self._timer_kind == "body":
            self._cancel_timer()
        if exchange is not None:
            exchange.body.finish()
            head = exchange.head
            if not (head.chunked or head.content_length):
                self._queue(exchange)

    # -- used by the request handler --------------------------------------------------
    def write_response_head(self, data: bytes) -> None:
        if self._active is not None:
            self._active.response_started = True
        self.write(data)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)

    def finished(self, exchange: Exchange) -> None:
        """The handler is done with ``exchange``: keep the connection or close it."""
        self._active = None
        if self.tunnel is not None:  # upgraded: the tunnel owns the connection now
            return
        self.upstream = None
        if self.closing:
            return
        if exchange.must_close or not exchange.head.keep_alive or not exchange.body.done:
            self.close()
            return
        if self._pending:
            self._start(self._pending.popleft())
            if not self._pending:
                self._flow(True)
        elif self._incoming is None and not self._in_head:
            self._arm("idle", self.config.keepalive_timeout)

    def reject(self, error: ClientRequestError) -> None:
        """Answer ``error`` (unless a response already started) and close the connection."""
        if self.closing:
            return
        self.server.behaviours.metrics.rejected.labels(str(error.status)).inc()
        active = self._active
        if active is None or not active.response_started:
            request_id = active.head.request_id if active is not None else (
                self.server.behaviours.request_id.assign(None))
            self.write(error_response(error.status, error.error_code, error.message, request_id))
        self.close()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self._drop_timer()
        if self.transport is not None:
            self.transport.close()

    def start_tunnel(self, upstream: UpstreamConnection, rest: bytes) -> None:
        """The upstream switched protocols: pipe bytes both ways from now on."""
        self.tunnel = self.upstream = upstream
        self._drop_timer()  # a tunnel ends when either side closes, not on a timer
        early, self._early = self._early, None
        if rest:
            self.write(rest)
        if early:
            upstream.write(bytes(early))
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    # -- internals --------------------------------------------------------------------
    def _queue(self, exchange: Exchange) -> None:
        if self._active is None:
            self._start(exchange)
        else:
            self._pending.append(exchange)
            self._flow(False)

    def _start(self, exchange: Exchange) -> None:
        self._active = exchange
        self.server.start_exchange(self, exchange)

    def _flow(self, resume: bool) -> None:
        if self.transport is None or self.closing or self._early is not None:
            return
        if resume and not self._pending:
            self.transport.resume_reading()
        elif not resume:
            self.transport.pause_reading()

    def _build_head(self) -> RequestHead:
        parser = self.parser
        lowered: dict[str, str] = {}
        for name, value in self._headers:
            lowered[name.decode("latin-1").lower()] = value.decode("latin-1")
        target = self._url
        raw_path, _, query = target.decode("latin-1").partition("?")
        # Most paths hold nothing canonical_path would change or refuse: skip its work.
        path = (raw_path if raw_path[:1] == "/" and _NEEDS_CANONICAL.search(raw_path) is None
                else canonical_path(raw_path))
        chunked = "chunked" in lowered.get("transfer-encoding", "").lower()
        length = lowered.get("content-length")
        content_length = None
        if length is not None and not chunked:
            if not length.isdigit():
                raise ClientRequestError(400, "bad_request", "Content-Length is not a number.")
            content_length = int(length)
        head = RequestHead(
            method=parser.get_method().decode(), target=target, path=path, query=query,
            http_version=parser.get_http_version(), raw_headers=self._headers, headers=lowered,
            keep_alive=parser.should_keep_alive(), chunked=chunked,
            content_length=content_length, client_ip=self.client_ip,
        )
        head.request_id = self.server.behaviours.request_id.assign(lowered.get("x-request-id"))
        return head

    def _arm(self, kind: str, seconds: float) -> None:
        self._timer_kind = kind
        deadline = self._deadline = self.loop.time() + seconds
        if self._timer is None or deadline < self._timer_when:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline

    def _cancel_timer(self) -> None:
        self._timer_kind = ""  # the pending timer, if any, finds nothing to do

    def _drop_timer(self) -> None:
        self._timer_kind = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        kind = self._timer_kind
        if not kind or self.closing:
            return
        deadline = (self._last_body + self.config.body_timeout if kind == "body"
                    else self._deadline)
        if deadline > self.loop.time():
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline
            return
        self._timer_kind = ""
        if kind == "body":
            self.reject(ClientRequestError(408, "request_timeout",
                                           "The request body stalled; send it faster."))
        elif kind == "head" and self._in_head:
            self.reject(ClientRequestError(
                408, "request_timeout",
                f"Request headers were not complete within {self.config.header_timeout:g}s."))
        elif self._active is None:  # idle keep-alive connection, or one that never sent a byte
            self.close()


def _too_large_head(limit: int) -> ClientRequestError:
    return ClientRequestError(431, "request_header_fields_too_large",
                              f"Request headers exceed {limit} bytes; send fewer or smaller headers.")


def _too_large_body(limit: int) -> ClientRequestError:
    return ClientRequestError(413, "payload_too_large",
                              f"Request body exceeds {limit} bytes; send a smaller body.")
