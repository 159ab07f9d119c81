"""The data plane against real upstream servers on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio

import httptools

from routing_proxy.dataplane.shadow import InMemoryShadowSink, ShadowCopy, ShadowSink
from routing_proxy.routes import Capability, KeyKind, KeySource, Mode, RouteRule, RouteTable, StickyKey
from tests.routing_proxy.helpers import Client, dead_url, proxy, run, upstream, wait_for

WALLET = RouteRule("GET", "/api/v1/wallets/{id}/transactions/")
PAYOUT = RouteRule("POST", "/api/v1/payouts/")
HANG = RouteRule("GET", "/hang/{id}/")
BY_MERCHANT = StickyKey(KeyKind.MERCHANT_ID, KeySource.HEADER, "X-Merchant-ID")


def table(mode: Mode, basis_points: int = 0, version: int = 1) -> RouteTable:
    key = BY_MERCHANT if mode is Mode.CANARY else None
    return RouteTable(version, (
        Capability("ledger.history", (WALLET, HANG), mode, basis_points, key),
        Capability("payouts.create", (PAYOUT,), mode, basis_points, key),
    ))


def test_unmatched_request_passes_through_byte_identical_except_volatile_headers() -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, upstream("extracted") as ext:
            raw = b"GET /static/thing?x=1 HTTP/1.1\r\nHost: api.paystream.test\r\n\r\n"
            direct = await Client.connect(int(mono.url.rsplit(":", 1)[1]))
            await direct.send(raw)
            want = await direct.response()
            async with proxy(table(Mode.MONOLITH), mono.url, ext.url) as server:
                client = await Client.connect(server.port)
                await client.send(raw)
                got = await client.response()
                assert (got.status, got.reason) == (want.status, want.reason) == (200, b"Custom Reason")
                volatile = {b"x-request-id", b"connection", b"keep-alive", b"x-hop"}
                strip = [(k, v) for k, v in want.headers if k.lower() not in volatile]
                assert [(k, v) for k, v in got.headers if k.lower() not in volatile] == strip
                assert got.header("X-Hop") is None and got.header("Keep-Alive") is None
                assert got.body == want.body == b'{"static": true, "amount": 12345}'
                assert mono.requests[-1] == "/static/thing?x=1"
                assert server.metrics.value("strangler_proxy_unmatched_total") == 1
                client.close()
            direct.close()

    run(scenario)


def test_request_headers_are_cleaned_and_forwarded_headers_set() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/7/transactions/", {
                "X-Strangler-Mode": "extracted", "X-Strangler-Shadow": "1",
                "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1",
                "Keep-Alive": "timeout=5", "TE": "trailers", "Proxy-Authorization": "x",
                "X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "gopher",
            })
            assert response.json()["upstream"] == "extracted"
            for name in ("X-Secret-Hop", "Keep-Alive", "TE", "Proxy-Authorization",
                         "X-Strangler-Shadow"):
                assert response.echoed(name) == [], name
            assert response.echoed("X-Strangler-Mode") == ["extracted"]  # set by the proxy
            assert response.echoed("X-Forwarded-For") == ["10.0.0.1, 127.0.0.1"]
            assert response.echoed("X-Forwarded-Proto") == ["http"]
            assert response.echoed("X-Forwarded-Host") == ["api.paystream.test"]
            request_id = response.echoed("X-Request-ID")
            assert len(request_id) == 1 and len(request_id[0]) == 32
            assert response.header("X-Request-ID") == request_id[0]
            kept = await client.request("GET", "/x", {"X-Request-ID": "abc-123"})
            assert kept.echoed("X-Request-ID") == ["abc-123"]
            assert kept.header("X-Request-ID") == "abc-123"
            client.close()

    run(scenario)


def test_keep_alive_reuses_client_and_upstream_connections() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            for i in range(5):
                response = await client.request("GET", f"/r/{i}")
                assert response.status == 200 and response.keep_alive
            assert mono.connections == 1 and len(mono.requests) == 5
            head = await client.request("HEAD", "/r/head")
            assert head.status == 200 and head.body == b""
            after = await client.request("GET", "/r/after-head")
            assert after.json()["target"] == "/r/after-head"
            client.close()

    run(scenario)


def test_chunked_request_and_response_bodies_stream_through() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            await client.send(b"POST /chunked/up HTTP/1.1\r\nHost: h\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await wait_for(lambda: mono.connections == 1)  # proxy is already forwarding
            await client.send(b"6\r\n world\r\n0\r\n\r\n")
            response = await client.response()
            assert response.status == 200
            assert response.header("Transfer-Encoding") == "chunked"
            assert response.json()["body"] == "hello world"
            assert b"\r\n0\r\n\r\n" in client.raw  # re-chunked, not buffered into one piece
            assert response.echoed("Transfer-Encoding") == ["chunked"]
            big = b"x" * 300_000
            echoed = await client.request("POST", "/big", body=big)
            assert echoed.json()["body"] == big.decode()
            client.close()

    run(scenario)


def test_canary_is_sticky_per_key_and_counts_share() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.CANARY, 5000), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            seen: dict[str, set[str]] = {}
            for round_ in range(2):
                for merchant in range(20):
                    response = await client.request(
                        "GET", f"/api/v1/wallets/{round_}/transactions/",
                        {"X-Merchant-ID": f"m{merchant}"})
                    seen.setdefault(f"m{merchant}", set()).add(response.json()["upstream"])
            assert all(len(sides) == 1 for sides in seen.values())
            assert {side for sides in seen.values() for side in sides} == {"monolith", "extracted"}
            # raising the share keeps every extracted key extracted (monotonic)
            assert server.reload(table(Mode.CANARY, 9000, version=2))
            for key, sides in seen.items():
                if sides == {"extracted"}:
                    response = await client.request(
                        "GET", "/api/v1/wallets/1/transactions/", {"X-Merchant-ID": key})
                    assert response.json()["upstream"] == "extracted"
            client.close()

    run(scenario)


def test_reload_swaps_the_table_by_version_and_refuses_older_ones() -> None:
    async def scenario() -> None:
        from routing_proxy.errors import StaleRouteTableError

        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH, version=5), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            path = "/api/v1/wallets/1/transactions/"
            assert (await client.request("GET", path)).json()["upstream"] == "monolith"
            assert server.reload(table(Mode.EXTRACTED, version=6))
            assert (await client.request("GET", path)).json()["upstream"] == "extracted"
            assert not server.reload(table(Mode.MONOLITH, version=6))
            try:
                server.reload(table(Mode.MONOLITH, version=4))
                raise AssertionError("an older table was accepted")
            except StaleRouteTableError:
                pass
            assert server.version == 6
            client.close()

    run(scenario)


def test_get_on_failed_extracted_upstream_falls_back_to_monolith_and_is_counted() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted", status=503) as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/1/transactions/")
            assert response.status == 200 and response.json()["upstream"] == "monolith"
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "ledger.history", "upstream": "extracted",
                "kind": "status_503"}) == 1
            # decommissioning must see that the monolith still served this route
            counts, monolith = server.behaviours.router.traffic.drain()
            key = ("GET", "/api/v1/wallets/{id}/transactions/")
            assert counts == {key: 1} and monolith == {key: 1}
            client.close()
        async with (
            upstream("monolith") as mono,
            proxy(table(Mode.EXTRACTED), mono.url, dead_url()) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/1/transactions/")
            assert response.json()["upstream"] == "monolith"
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "ledger.history", "upstream": "extracted",
                "kind": "connect"}) == 1
            client.close()

    run(scenario)


def test_timed_out_extracted_get_falls_back() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted", hang=True) as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url, response_timeout=0.2) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/1/transactions/")
            assert response.json()["upstream"] == "monolith"
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "ledger.history", "upstream": "extracted",
                "kind": "timeout"}) == 1
            client.close()

    run(scenario)


def test_post_on_extracted_capability_fails_with_503_and_request_id_never_falls_back() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            proxy(table(Mode.EXTRACTED), mono.url, dead_url()) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("POST", "/api/v1/payouts/", {"X-Request-ID": "w-1"},
                                            body=b'{"amount": 100}')
            assert response.status == 503
            assert response.header("X-Request-ID") == "w-1"
            body = response.json()
            assert body["status"] == "error" and body["error_code"] == "upstream_unavailable"
            assert body["errors"] == {} and "payouts.create" in body["message"]
            assert mono.requests == []
            client.close()

    run(scenario)


def test_circuit_breaker_opens_and_stops_calling_the_failing_upstream() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted", status=500) as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url, breaker_failures=3) as server,
        ):
            client = await Client.connect(server.port)
            for _ in range(6):
                response = await client.request("GET", "/api/v1/wallets/1/transactions/")
                assert response.json()["upstream"] == "monolith"
            assert len(ext.requests) == 3  # after 3 failures the breaker stopped the calls
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "ledger.history", "upstream": "extracted",
                "kind": "circuit_open"}) == 3
            client.close()

    run(scenario)


def test_malformed_http_gets_400_and_the_proxy_keeps_serving() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url) as server,
        ):
            for garbage in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
                client = await Client.connect(server.port)
                await client.send(garbage)
                response = await client.response()
                assert response.status == 400
                assert response.json()["error_code"] == "bad_request"
                assert response.header("X-Request-ID")
                assert await client.closed()
            healthy = await Client.connect(server.port)
            assert (await healthy.request("GET", "/ok")).status == 200
            healthy.close()

    run(scenario)


def test_oversized_headers_get_431_and_oversized_body_gets_413() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url, max_header_bytes=2048,
                  max_body_bytes=1000) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/x", {"X-Big": "a" * 4096})
            assert response.status == 431 and await client.closed()
            client = await Client.connect(server.port)
            await client.send(b"GET /x HTTP/1.1\r\nX-Endless: " + b"b" * 10_000)
            assert (await client.response()).status == 431
            client = await Client.connect(server.port)
            response = await client.request("POST", "/x", body=b"z" * 1001)
            assert response.status == 413
            assert response.json()["error_code"] == "payload_too_large"
            client = await Client.connect(server.port)
            await client.send(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + b"%x\r\n%s\r\n" % (1500, b"c" * 1500))
            assert (await client.response()).status == 413
            assert mono.requests == []  # nothing forwarded for a declared oversize body

    run(scenario)


def test_slow_client_that_does_not_finish_headers_gets_408_and_is_closed() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url, header_timeout=0.2) as server,
        ):
            client = await Client.connect(server.port)
            await client.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
            response = await client.response()
            assert response.status == 408
            assert response.json()["error_code"] == "request_timeout"
            assert await client.closed()
            assert mono.requests == []

    run(scenario)


class BlockedSink(ShadowSink):
    """A sink that never finishes consuming: the queue behind it fills up."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def consume(self, copy: ShadowCopy) -> None:
        self.started.set()
        await asyncio.Event().wait()


def test_shadow_sink_gets_request_and_primary_response_copies() -> None:
    async def scenario() -> None:
        sink = InMemoryShadowSink()
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.SHADOW), mono.url, ext.url, shadow_sink=sink) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("POST", "/api/v1/payouts/", body=b'{"a": 1}')
            assert response.json()["upstream"] == "monolith"  # the client gets the monolith
            await wait_for(lambda: len(sink.copies) == 1)
            copy = sink.copies[0]
            assert (copy.capability, copy.method, copy.request_body) == (
                "payouts.create", "POST", b'{"a": 1}')
            assert copy.status == 200 and copy.response_body == response.body
            assert copy.request_id == response.header("X-Request-ID")
            assert copy.primary_latency_s is not None and copy.primary_latency_s > 0
            assert ext.requests == []  # replaying on the candidate is the sink's job
            assert server.metrics.value("strangler_proxy_shadow_enqueued_total") == 1
            client.close()

    run(scenario)


def test_full_shadow_queue_drops_and_counts_without_blocking_clients() -> None:
    async def scenario() -> None:
        sink = BlockedSink()
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.SHADOW), mono.url, ext.url, shadow_sink=sink, shadow_queue_size=2) as server,
        ):
            client = await Client.connect(server.port)
            for i in range(8):
                response = await client.request("GET", f"/api/v1/wallets/{i}/transactions/")
                assert response.status == 200
            # one copy is held by the blocked sink, two fill the queue, the rest drop
            assert server.metrics.value("strangler_proxy_shadow_dropped_total") >= 5
            assert sink.started.is_set()
            client.close()

    run(scenario)


def test_metrics_count_requests_per_capability_mode_and_upstream() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            for _ in range(3):
                await client.request("GET", "/api/v1/wallets/1/transactions/")
            labels = {"capability": "ledger.history", "mode": "extracted",
                      "upstream": "extracted"}
            assert server.metrics.value("strangler_proxy_requests_total",
                                        {**labels, "status": "200"}) == 3
            assert server.metrics.value("strangler_proxy_request_seconds_count", labels) == 3
            client.close()

    run(scenario)


class _EarlyAnswerProtocol(asyncio.Protocol):
    """Answers 415 as soon as a request's head is in, before its body, and keeps the connection.

    Like gunicorn, it then reads (and drops) the body by its Content-Length before parsing the
    next request, so a proxy that stops sending the body and reuses the connection desyncs it.
    """

    def __init__(self, seen: list[str], errors: list[str]) -> None:
        self.seen, self.errors = seen, errors
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.errors.append(repr(exc))
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_headers_complete(self) -> None:
        assert self.transport is not None
        self.seen.append(f"{self.parser.get_method().decode()} {self.url.decode()}")
        self.transport.write(b"HTTP/1.1 415 Unsupported Media Type\r\nContent-Length: 0\r\n\r\n")


def test_upstream_answering_before_the_body_is_sent_never_desyncs_the_next_request() -> None:
    """Regression: the proxy stopped sending a streamed body after an early 415 and reused the
    upstream connection, so the upstream read the next request's first bytes as that body."""

    async def scenario() -> None:
        seen: list[str] = []
        errors: list[str] = []
        loop = asyncio.get_running_loop()
        early = await loop.create_server(lambda: _EarlyAnswerProtocol(seen, errors), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{early.sockets[0].getsockname()[1]}"
        try:
            async with upstream("extracted") as ext, proxy(table(Mode.MONOLITH), url, ext.url) as server:
                client = await Client.connect(server.port)
                await client.send(b"POST /api/v1/users/ HTTP/1.1\r\nHost: a\r\n"
                                  b"Content-Type: text/plain\r\nContent-Length: 8\r\n\r\n")
                first = await client.response()
                assert first.status == 415
                await client.send(b"amount=1")  # the body arrives after the answer
                second = await Client.connect(server.port)
                assert (await second.request("DELETE", "/api/v1/merchant/")).status == 415
                await wait_for(lambda: len(seen) == 2)
                assert seen == ["POST /api/v1/users/", "DELETE /api/v1/merchant/"]
                assert errors == []
                client.close()
                second.close()
        finally:
            early.close()

    run(scenario)


class _OneShotProtocol(asyncio.Protocol):
    """Answers the first request on a connection with keep-alive, then closes the connection
    on the next one without answering: an idle connection the upstream dropped just as the
    proxy reused it."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.seen.append(url.decode())

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.answered:
            self.transport.close()
            return
        self.answered = True
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_idempotent_request_on_a_dropped_keep_alive_connection_is_sent_again_once() -> None:
    async def scenario() -> None:
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        one_shot = await loop.create_server(lambda: _OneShotProtocol(seen), "127.0.0.1", 0)
        url = f"http://127.0.0.1:{one_shot.sockets[0].getsockname()[1]}"
        try:
            async with upstream("extracted") as ext, proxy(table(Mode.MONOLITH), url, ext.url) as server:
                client = await Client.connect(server.port)
                for i in range(3):
                    response = await client.request("GET", f"/r/{i}")
                    assert (response.status, response.body) == (200, b"ok")
                # each reuse met a dropped connection and was sent again on a new one
                assert seen == ["/r/0", "/r/1", "/r/1", "/r/2", "/r/2"]
                client.close()
        finally:
            one_shot.close()

    run(scenario)
