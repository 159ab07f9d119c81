"""Real HTTP upstreams and a raw HTTP client for data-plane tests (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httptools
import uvloop

from routing_proxy.dataplane.access_log import AccessLog
from routing_proxy.dataplane.config import ProxyConfig, UpstreamConfig
from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.dataplane.shadow import ShadowSink
from routing_proxy.routes import RouteTable

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """Run an async scenario on uvloop with a hard deadline, so no test can hang."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await scenario()

    return uvloop.run(bounded())


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class _UpstreamProtocol(asyncio.Protocol):
    """Echo server. Paths steer it: /status/NNN, /hang, /chunked, /close; else echo JSON."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[list[str]] = []
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.upstream.connections += 1

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", [], b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append([name.decode("latin-1"), value.decode("latin-1")])

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        assert self.transport is not None
        path = self.url.decode()
        self.upstream.requests.append(path)
        echo = {"upstream": self.upstream.name, "method": self.parser.get_method().decode(),
                "target": path, "headers": self.headers, "body": self.body.decode("latin-1")}
        payload = json.dumps(echo).encode()
        if path.startswith("/hang") or self.upstream.hang:
            return
        if path.startswith("/static"):  # same bytes whoever asks, for pass-through checks
            payload = b'{"static": true, "amount": 12345}'
        if path.startswith("/close"):
            self.transport.close()
            return
        if path.startswith("/chunked"):
            self.transport.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                 b"Content-Type: application/json\r\n\r\n")
            for start in range(0, len(payload), 10):
                piece = payload[start:start + 10]
                self.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.transport.write(b"0\r\n\r\n")
            return
        status = self.upstream.status
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
        self.transport.write(
            b"HTTP/1.1 %d Custom Reason\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nX-Upstream: %s\r\nConnection: keep-alive, X-Hop\r\n"
            b"X-Hop: secret\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
            % (status, len(payload), self.upstream.name.encode()) + payload
        )


@dataclass
class Upstream:
    name: str
    status: int = 200
    hang: bool = False
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@asynccontextmanager
async def upstream(name: str, **options: Any) -> AsyncIterator[Upstream]:
    up = Upstream(name, **options)
    loop = asyncio.get_running_loop()
    up.server = await loop.create_server(lambda: _UpstreamProtocol(up), "127.0.0.1", 0)
    try:
        yield up
    finally:
        up.server.close()


def dead_url() -> str:
    """A 127.0.0.1 URL nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def proxy(table: RouteTable, monolith_url: str, extracted_url: str, *,
                shadow_sink: ShadowSink | None = None, response_timeout: float = 5.0,
                breaker_failures: int = 5, access_log: AccessLog | None = None,
                **options: Any) -> AsyncIterator[ProxyServer]:
    config = ProxyConfig(
        upstreams={
            "monolith": UpstreamConfig.from_url("monolith", monolith_url,
                                                response_timeout=response_timeout),
            "extracted": UpstreamConfig.from_url("extracted", extracted_url,
                                                 response_timeout=response_timeout,
                                                 breaker_failures=breaker_failures),
        },
        **options,
    )
    server = ProxyServer(table, config, shadow_sink=shadow_sink, access_log=access_log)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.decode().lower() == name.lower():
                return value.decode("latin-1")
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def echoed(self, name: str) -> list[str]:
        """Values of header ``name`` as the upstream received it."""
        return [v for k, v in self.json()["headers"] if k.lower() == name.lower()]


class _ResponseCollector:
    def __init__(self, head_only: bool) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.body = b""
        self.done = False
        self.head_only = head_only

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.head_only:
            self.done = True

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


class Client:
    """One raw keep-alive client connection; sends bytes as given, parses one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.raw = b""

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, head_only: bool = False) -> Response:
        collector = _ResponseCollector(head_only)
        parser = httptools.HttpResponseParser(collector)
        self.raw = b""
        while not collector.done:
            data = await self.reader.read(65536)
            if not data:
                parser.feed_data(b"")  # lets a close-delimited body finish
                break
            self.raw += data
            parser.feed_data(data)
        response = Response(parser.get_status_code(), collector.reason, collector.headers,
                            collector.body, True)
        response.keep_alive = (response.header("Connection") or "").lower() != "close"
        return response

    async def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Response:
        lines = [f"{method} {target} HTTP/1.1", "Host: api.paystream.test"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await self.response(head_only=method == "HEAD")

    async def closed(self) -> bool:
        """True once the server has closed the connection (reads to EOF)."""
        rest = await self.reader.read()
        return rest == b"" or self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()
