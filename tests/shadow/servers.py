"""Tiny real HTTP/1.1 servers (127.0.0.1) whose answers a test function decides; for proxy + sink tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httptools

Handler = Callable[["Request"], Awaitable[tuple[int, dict[str, str], bytes]]]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    handler: Handler
    requests: list[Request] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: Server) -> None:
        self.owner = owner
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        request = Request(self.parser.get_method().decode(), self.url.decode(), self.headers, self.body)
        self.owner.requests.append(request)
        asyncio.get_running_loop().create_task(self.answer(request))

    async def answer(self, request: Request) -> None:
        status, headers, body = await self.owner.handler(request)
        assert self.transport is not None
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if not self.transport.is_closing():
            self.transport.write(f"HTTP/1.1 {status} OK\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
                                 .encode("latin-1") + body)


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    server = Server(handler)
    server.server = await asyncio.get_running_loop().create_server(lambda: _Protocol(server), "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.server.close()
