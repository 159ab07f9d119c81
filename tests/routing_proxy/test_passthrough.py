"""Expect: 100-continue and protocol upgrades (WebSocket) through the proxy, against real
upstream servers on 127.0.0.1 that speak them (no mocks)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os

import httptools

from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from tests.routing_proxy.helpers import Client, proxy, run, upstream, wait_for

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TABLE = RouteTable(1, (Capability("ledger.history",
                                  (RouteRule("GET", "/api/v1/wallets/{id}/transactions/"),),
                                  Mode.MONOLITH),))


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def frame(payload: bytes, *, masked: bool, opcode: int = 0x1) -> bytes:
    """One final WebSocket frame (RFC 6455 5.2); clients mask, servers do not."""
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head = bytes([0x80 | opcode, bit | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def take_frame(buffer: bytearray) -> tuple[int, bytes] | None:
    """Remove one complete frame from ``buffer``: (opcode, unmasked payload), or None."""
    if len(buffer) < 2:
        return None
    masked, size, offset = buffer[1] & 0x80, buffer[1] & 0x7F, 2
    if size == 126:
        size, offset = int.from_bytes(buffer[2:4], "big"), 4
    elif size == 127:
        size, offset = int.from_bytes(buffer[2:10], "big"), 10
    mask = bytes(buffer[offset:offset + 4]) if masked else b""
    offset += len(mask)
    if len(buffer) < offset + size:
        return None
    payload = bytes(buffer[offset:offset + size])
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    opcode = buffer[0] & 0x0F
    del buffer[:offset + size]
    return opcode, payload


class Frames:
    """Reads WebSocket frames from a client connection, keeping what arrived beyond one."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.buffer = bytearray()

    async def next(self) -> tuple[int, bytes]:
        while (found := take_frame(self.buffer)) is None:
            data = await self.client.reader.read(65536)
            assert data, "the connection closed before a whole frame arrived"
            self.buffer += data
        return found


class WebSocketUpstream(asyncio.Protocol):
    """A WebSocket server: answers the handshake (101 plus a greeting frame in the same
    write), then echoes every frame as ``echo:<payload>``; ``close-please`` makes it close.
    ``/refuse`` paths get a 426 instead of a 101."""

    def __init__(self, seen: list[dict[str, str]], closed: list[bool]) -> None:
        self.seen, self.closed = seen, closed
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.frames: bytearray | None = None  # set once switched to WebSocket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.append(True)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.seen.append({**self.headers, ":path": self.url.decode()})

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.frames is not None:
            self.frames += data
            self._echo()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.url.startswith(b"/refuse"):
                self.transport.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 7\r\n"
                                     b"Content-Type: text/plain\r\n\r\nno, ta.")
                return
            assert self.headers["upgrade"] == "websocket"
            accept = accept_key(self.headers["sec-websocket-key"].encode())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                                 % accept + frame(b"hello", masked=False))
            self.frames = bytearray(data[exc.args[0]:])
            self._echo()

    def _echo(self) -> None:
        assert self.transport is not None and self.frames is not None
        while (found := take_frame(self.frames)) is not None:
            opcode, payload = found
            if payload == b"close-please":
                self.transport.close()
                return
            self.transport.write(frame(b"echo:" + payload, masked=False, opcode=opcode))


def handshake(path: str, key: bytes, extra: bytes = b"") -> bytes:
    return (b"GET %s HTTP/1.1\r\nHost: api.paystream.test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
            b"X-Strangler-Shadow: 1\r\n\r\n" % (path.encode(), key)) + extra


async def read_head(client: Client) -> bytes:
    return await client.reader.readuntil(b"\r\n\r\n")


def test_websocket_upgrade_is_tunnelled_both_ways_until_either_side_closes() -> None:
    async def scenario() -> None:
        seen: list[dict[str, str]] = []
        closed: list[bool] = []
        loop = asyncio.get_running_loop()
        ws = await loop.create_server(lambda: WebSocketUpstream(seen, closed), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{ws.sockets[0].getsockname()[1]}"
        try:
            async with upstream("extracted") as ext, proxy(TABLE, url, ext.url) as server:
                client = await Client.connect(server.port)
                key = base64.b64encode(os.urandom(16))
                # a first frame right behind the handshake is held until the switch
                await client.send(handshake("/ws/feed", key, frame(b"early", masked=True)))
                head = await read_head(client)
                assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
                assert b"\r\nUpgrade: websocket\r\n" in head
                assert b"\r\nConnection: Upgrade\r\n" in head
                assert b"\r\nSec-WebSocket-Accept: %s\r\n" % accept_key(key) in head
                assert b"\r\nX-Request-ID: " in head
                frames = Frames(client)
                assert await frames.next() == (0x1, b"hello")  # sent with the 101
                assert await frames.next() == (0x1, b"echo:early")
                await client.send(frame(b"ping me", masked=True))
                assert await frames.next() == (0x1, b"echo:ping me")
                big = os.urandom(300_000)
                await client.send(frame(big, masked=True, opcode=0x2))
                assert await frames.next() == (0x2, b"echo:" + big)
                assert not frames.buffer
                sent = seen[0]
                assert (sent[":path"], sent["upgrade"], sent["connection"]) == (
                    "/ws/feed", "websocket", "Upgrade")
                assert sent["x-forwarded-for"] == "127.0.0.1" and len(sent["x-request-id"]) == 32
                assert "x-strangler-shadow" not in sent
                client.close()  # the client closes: the proxy closes the upstream side
                await wait_for(lambda: len(closed) == 1)

                second = await Client.connect(server.port)
                await second.send(handshake("/ws/other", base64.b64encode(os.urandom(16))))
                assert (await read_head(second)).startswith(b"HTTP/1.1 101 ")
                assert await Frames(second).next() == (0x1, b"hello")
                await second.send(frame(b"close-please", masked=True))
                assert await second.closed()  # the upstream closed: so does the client side
                assert server.metrics.value("strangler_proxy_requests_total", {
                    "capability": "-", "mode": "unmatched", "upstream": "monolith",
                    "status": "101"}) == 2
        finally:
            ws.close()

    run(scenario)


def test_refused_upgrade_is_relayed_and_the_client_connection_closed() -> None:
    async def scenario() -> None:
        seen: list[dict[str, str]] = []
        closed: list[bool] = []
        loop = asyncio.get_running_loop()
        ws = await loop.create_server(lambda: WebSocketUpstream(seen, closed), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{ws.sockets[0].getsockname()[1]}"
        try:
            async with upstream("extracted") as ext, proxy(TABLE, url, ext.url) as server:
                client = await Client.connect(server.port)
                await client.send(handshake("/refuse", base64.b64encode(os.urandom(16))))
                response = await client.response()
                assert (response.status, response.body) == (426, b"no, ta.")
                assert response.header("Connection") == "close"
                assert response.header("Upgrade") is None
                assert await client.closed()
                assert len(seen) == 1
                connect = await Client.connect(server.port)
                await connect.send(b"CONNECT bank.example:443 HTTP/1.1\r\nHost: bank.example\r\n\r\n")
                refused = await connect.response()
                assert refused.status == 400 and "CONNECT" in refused.json()["message"]
                assert await connect.closed()
                assert len(seen) == 1  # nothing forwarded for CONNECT
        finally:
            ws.close()

    run(scenario)


class ExpectUpstream(asyncio.Protocol):
    """Honours Expect: 100-continue: answers 100 Continue, then echoes the body; on
    ``/reject`` paths answers 417 at once, before any body (and then reads nothing more)."""

    def __init__(self, seen: list[tuple[str, str | None, bytes]]) -> None:
        self.seen = seen
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.expect: str | None = None
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.expect, self.body = b"", None, b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"expect":
            self.expect = value.decode()

    def on_headers_complete(self) -> None:
        assert self.transport is not None
        self.seen.append((self.url.decode(), self.expect, b""))
        if self.url.startswith(b"/reject"):
            self.transport.write(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
            self.transport.pause_reading()
        elif self.expect == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.seen[-1] = (self.url.decode(), self.expect, self.body)
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(self.body), self.body))


def test_expect_100_continue_is_answered_by_the_upstream_not_the_proxy() -> None:
    async def scenario() -> None:
        seen: list[tuple[str, str | None, bytes]] = []
        loop = asyncio.get_running_loop()
        up = await loop.create_server(lambda: ExpectUpstream(seen), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{up.sockets[0].getsockname()[1]}"
        try:
            async with upstream("extracted") as ext, proxy(TABLE, url, ext.url) as server:
                client = await Client.connect(server.port)
                await client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                  b"Content-Length: 11\r\n\r\n")
                assert await read_head(client) == b"HTTP/1.1 100 Continue\r\n\r\n"
                assert seen == [("/upload", "100-continue", b"")]  # head only, so far
                await client.send(b"hello world")
                response = await client.response()
                assert (response.status, response.body) == (200, b"hello world")
                assert response.keep_alive
                assert seen[-1] == ("/upload", "100-continue", b"hello world")
                again = await client.request("POST", "/plain", body=b"abc")
                assert (again.status, again.body) == (200, b"abc")
                assert seen[-1] == ("/plain", None, b"abc")
                client.close()

                # A final answer instead of 100: relayed at once; the client never sends
                # the body, and neither connection is reused (no desync).
                refused = await Client.connect(server.port)
                await refused.send(b"PUT /reject HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                   b"Content-Length: 5\r\n\r\n")
                response = await refused.response()
                assert response.status == 417 and response.header("Connection") == "close"
                assert await refused.closed()
                fresh = await Client.connect(server.port)
                after = await fresh.request("POST", "/next", body=b"xyz")
                assert (after.status, after.body) == (200, b"xyz")
                assert seen[-1] == ("/next", None, b"xyz")
                fresh.close()
        finally:
            up.close()

    run(scenario)
