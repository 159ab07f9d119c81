"""Read-your-writes fence: the pure per-client table, and the data plane against real upstreams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httptools
import pytest

from routing_proxy.fence import BYPASS, FenceConfig, ReadYourWrites, client_key, parse_result
from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from tests.routing_proxy.helpers import Client, proxy, run, upstream

W = "/api/v1/wallets/7/credit/"  # a write the default fence scope tracks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def table_with(config: FenceConfig | None = None) -> tuple[ReadYourWrites, Clock]:
    fence = ReadYourWrites(config or FenceConfig())
    clock = Clock()
    fence.clock = clock
    fence.wall = lambda: 1_700_000_000.0 + clock.now
    return fence, clock


def header(fence: ReadYourWrites, key: str) -> dict[str, str]:
    read = fence.read(key)
    assert read is not None and not read.bypass
    lines = read.lines.decode().strip().split("\r\n")
    return dict(line.split(": ", 1) for line in lines)


# -- the table ---------------------------------------------------------------------------------

def test_a_write_fences_the_clients_reads_with_its_request_id_and_send_time() -> None:
    fence, _ = table_with()
    assert fence.read("c1") is None
    assert fence.write_started("c1", "req-1", W, None)
    sent = header(fence, "c1")
    assert sent == {"X-Strangler-Fence": "req-1@1700000100000", "X-Strangler-Fence-Wait": "300"}
    assert fence.read("c2") is None  # another client is not fenced by it


def test_a_4xx_write_is_forgotten_and_an_answered_write_is_dropped_once_vouched_for() -> None:
    fence, _ = table_with()
    fence.write_started("c", "bad", W, None)
    fence.write_finished("c", "bad", 409)
    assert fence.read("c") is None
    fence.write_started("c", "good", W, None)
    fence.write_started("c", "in-flight", W, None)
    fence.write_finished("c", "good", 201)
    read = fence.read("c")
    assert read is not None and read.request_ids == ("good", "in-flight")
    fence.vouched("c", read.request_ids)
    # a write still in flight when the read went out may not have committed yet: kept
    read = fence.read("c")
    assert read is not None and read.request_ids == ("in-flight",)


def test_a_write_that_failed_at_the_proxy_keeps_its_token_until_the_window_ends() -> None:
    fence, clock = table_with(FenceConfig(window=5))
    fence.write_started("c", "w", W, None)
    fence.write_finished("c", "w", 0)  # no answer: it may have committed
    fence.write_finished("c", "w", 504)
    clock.now += 4.9
    assert fence.read("c") is not None
    clock.now += 0.2
    assert fence.read("c") is None


def test_after_a_miss_the_same_writes_are_asked_for_without_waiting() -> None:
    fence, _ = table_with()
    fence.write_started("c", "w", W, None)
    read = fence.read("c")
    assert read is not None
    fence.missed("c", read.request_ids)
    assert header(fence, "c")["X-Strangler-Fence-Wait"] == "0"
    fence.write_started("c", "w2", W, None)  # still 0: one token is known to be slow
    assert header(fence, "c") == {"X-Strangler-Fence": "w@1700000100000,w2@1700000100000",
                                  "X-Strangler-Fence-Wait": "0"}


def test_an_idempotent_replay_of_an_answered_write_adds_no_token() -> None:
    fence, clock = table_with(FenceConfig(window=5))
    assert fence.write_started("c", "first", W, "key-1")
    fence.write_finished("c", "first", 201)
    assert not fence.write_started("c", "retry", W, "key-1")
    fence.vouched("c", ("first",))
    assert not fence.write_started("c", "retry-2", W, "key-1")  # still known after the vouch
    assert fence.read("c") is None
    clock.now += 6
    assert fence.write_started("c", "later", W, "key-1")  # out of the window: a new write


def test_a_4xx_answer_does_not_make_its_idempotency_key_replayable() -> None:
    fence, _ = table_with()
    fence.write_started("c", "first", W, "key-1")
    fence.write_finished("c", "first", 400)  # the monolith stores no 4xx: a retry runs again
    assert fence.write_started("c", "retry", W, "key-1")


def test_writes_outside_the_configured_paths_leave_no_token() -> None:
    fence, _ = table_with()  # PayStream's writes that move balances and history
    for path in ("/api/v1/users/", "/api/v1/webhooks/", "/api/v1/bank-accounts/", "/admin/login/"):
        assert not fence.write_started("c", path, path, None)
    for path in ("/api/v1/wallets/", "/api/v1/wallets/7/credit/", "/api/v1/transfers/", "/api/v1/payouts/"):
        assert fence.write_started("c", path, path, None)
    everything, _ = table_with(FenceConfig(write_paths=("/",)))
    assert everything.write_started("c", "w", "/api/v1/webhooks/", None)


def test_too_many_pending_writes_send_the_clients_reads_to_the_monolith_until_they_expire() -> None:
    fence, clock = table_with(FenceConfig(window=5, max_tokens=2))
    for n in range(3):
        fence.write_started("c", f"w{n}", W, None)
        clock.now += 1
    assert fence.read("c") is BYPASS  # w0 was dropped unverified
    clock.now += 2.1  # w0 would have expired now
    read = fence.read("c")
    assert read is not None and not read.bypass and read.request_ids == ("w1", "w2")


def test_the_client_table_is_a_bounded_lru_that_counts_clients_forgotten_with_pending_writes() -> None:
    fence, _ = table_with(FenceConfig(max_clients=2))
    fence.write_started("a", "1", W, None)
    fence.write_started("b", "2", W, None)
    fence.read("a")  # a is the most recently used now
    fence.write_started("c", "3", W, None)
    assert len(fence) == 2 and fence.read("b") is None and fence.read("a") is not None
    assert fence.evicted_live == 1


def test_client_identity_is_a_hash_of_the_credentials_never_the_credentials() -> None:
    key = client_key("Api-Key ps_live_secret")
    assert key is not None and "secret" not in key and len(key) == 32
    assert key == client_key("Api-Key ps_live_secret") != client_key("Api-Key ps_live_other")
    assert client_key(None) is None and client_key("") is None


def test_result_header_parsing() -> None:
    assert parse_result(b"hit") == "hit"
    assert parse_result("waited; ms=12") == "waited"
    assert parse_result(b"MISS; ms=300") == "miss"
    assert parse_result(b"maybe") is None and parse_result(None) is None


@pytest.mark.parametrize("options", [{"window": 0}, {"wait": -1}, {"max_tokens": 0},
                                     {"write_paths": ()}, {"write_paths": ("api",)}])
def test_invalid_fence_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FenceConfig(**options)  # type: ignore[arg-type]


# -- the data plane ------------------------------------------------------------------------------

BALANCE = RouteRule("GET", "/api/v1/wallets/{id}/balance/")
CREDIT = W  # the credit the data-plane tests send
AUTH = {"Authorization": "Api-Key ps_live_k1"}
TABLE = RouteTable(1, (Capability("wallets.balance", (BALANCE,), Mode.EXTRACTED),))


@dataclass
class Ledger:
    """A fake extracted service: ``answer(request headers) -> (status, extra response headers)``."""

    answer: Callable[[dict[str, str]], tuple[int, list[tuple[str, str]]]]
    seen: list[dict[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


class _LedgerProtocol(asyncio.Protocol):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[str, str] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.ledger.seen.append(self.headers)
        status, extra = self.ledger.answer(self.headers)
        body = json.dumps({"upstream": "ledger"}).encode()
        lines = "".join(f"{k}: {v}\r\n" for k, v in extra)
        self.transport.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n{lines}\r\n".encode() + body)


@asynccontextmanager
async def ledger(answer: Callable[[dict[str, str]], tuple[int, list[tuple[str, str]]]]
                 ) -> AsyncIterator[Ledger]:
    fake = Ledger(answer)
    fake.server = await asyncio.get_running_loop().create_server(
        lambda: _LedgerProtocol(fake), "127.0.0.1", 0)
    try:
        yield fake
    finally:
        fake.server.close()


def fence_value(server: object, capability: str, outcome: str) -> float:
    return server.metrics.value("strangler_proxy_fence_total",  # type: ignore[attr-defined]
                                {"capability": capability, "outcome": outcome})


def test_a_read_after_a_write_carries_the_write_and_a_vouched_answer_is_served_without_internals() -> None:
    def answer(headers: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        return 200, ([("X-Strangler-Fence-Result", "waited; ms=40")]
                     if "x-strangler-fence" in headers else [])

    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(answer) as fake, \
                proxy(TABLE, mono.url, fake.url) as server:
            client = await Client.connect(server.port)
            # unfenced before any write; a client cannot smuggle a fence of its own
            response = await client.request("GET", "/api/v1/wallets/7/balance/",
                                            {**AUTH, "X-Strangler-Fence": "x@1"})
            assert response.json() == {"upstream": "ledger"} and "x-strangler-fence" not in fake.seen[-1]
            await client.request("POST", CREDIT, {**AUTH, "X-Request-ID": "credit-1"}, b"{}")
            response = await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert response.status == 200 and response.json() == {"upstream": "ledger"}
            assert fake.seen[-1]["x-strangler-fence"].startswith("credit-1@")
            assert fake.seen[-1]["x-strangler-fence-wait"] == "300"
            assert response.header("X-Strangler-Fence-Result") is None  # internal, stripped
            # vouched for: the next read needs no fence
            await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert "x-strangler-fence" not in fake.seen[-1]
            # another client's read was never fenced by this client's write
            assert fence_value(server, "wallets.balance", "waited") == 1
            assert fence_value(server, "-", "write_tracked") == 1
            client.close()

    run(scenario)


def test_a_fence_miss_falls_back_to_the_monolith_without_tripping_the_breaker() -> None:
    def answer(headers: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        if "x-strangler-fence" in headers:
            return 503, [("X-Strangler-Fence-Result", "miss; ms=300")]
        return 200, []

    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(answer) as fake, \
                proxy(TABLE, mono.url, fake.url, breaker_failures=2) as server:
            client = await Client.connect(server.port)
            await client.request("POST", CREDIT, {**AUTH, "X-Request-ID": "credit-1"}, b"{}")
            for n in range(5):
                response = await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
                assert response.status == 200 and response.json()["upstream"] == "monolith"
                # the first ask waits, the following ones only look
                assert fake.seen[-1]["x-strangler-fence-wait"] == ("300" if n == 0 else "0")
            assert len(fake.seen) == 5, "the breaker never opened: a miss is not a failure"
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "wallets.balance", "upstream": "extracted", "kind": "fence_miss"}) == 5
            assert server.metrics.value("strangler_proxy_errors_total", {
                "capability": "wallets.balance", "mode": "extracted", "upstream": "extracted",
                "kind": "fence_miss"}) == 0
            assert fence_value(server, "wallets.balance", "miss") == 5
            assert fence_value(server, "wallets.balance", "fallback") == 5
            # another client is not affected
            response = await client.request("GET", "/api/v1/wallets/7/balance/",
                                            {"Authorization": "Api-Key other"})
            assert response.json()["upstream"] == "ledger"
            client.close()

    run(scenario)


def test_an_answer_without_a_fence_result_is_never_served_for_a_fenced_read() -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(lambda h: (200, [])) as fake, \
                proxy(TABLE, mono.url, fake.url) as server:
            client = await Client.connect(server.port)
            await client.request("POST", CREDIT, AUTH, b"{}")
            response = await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert response.json()["upstream"] == "monolith"
            assert fence_value(server, "wallets.balance", "unsupported") == 1
            client.close()

    run(scenario)


def test_with_the_fence_off_reads_are_never_fenced() -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(lambda h: (200, [])) as fake, \
                proxy(TABLE, mono.url, fake.url, fence=FenceConfig(enabled=False)) as server:
            client = await Client.connect(server.port)
            await client.request("POST", CREDIT, AUTH, b"{}")
            response = await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert response.json()["upstream"] == "ledger" and "x-strangler-fence" not in fake.seen[-1]
            client.close()

    run(scenario)


# -- writes to an extracted service: fenced, never replayed ------------------------------------------

DEBIT = "/api/v1/wallets/7/debit/"
OPEN = "/api/v1/wallets/"  # opening a wallet stays on the monolith (and leaves a token)
WRITE_TABLE = RouteTable(1, (
    Capability("wallets.balance", (BALANCE,), Mode.EXTRACTED),
    Capability("ledger.write", (RouteRule("POST", "/api/v1/wallets/{id}/debit/"),), Mode.EXTRACTED),
))


def test_a_write_to_an_extracted_service_waits_for_the_clients_monolith_writes() -> None:
    def answer(headers: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        return 409, ([("X-Strangler-Fence-Result", "waited; ms=40")]
                     if "x-strangler-fence" in headers else [])

    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(answer) as fake, \
                proxy(WRITE_TABLE, mono.url, fake.url) as server:
            client = await Client.connect(server.port)
            # no monolith write yet: nothing to wait for
            response = await client.request("POST", DEBIT, AUTH, b"{}")
            assert response.status == 409 and "x-strangler-fence" not in fake.seen[-1]
            await client.request("POST", OPEN, {**AUTH, "X-Request-ID": "open-1"}, b"{}")
            response = await client.request("POST", DEBIT, AUTH, b'{"amount": "1.00"}')
            assert response.status == 409 and response.json() == {"upstream": "ledger"}
            assert fake.seen[-1]["x-strangler-fence"].startswith("open-1@")
            assert fake.seen[-1]["x-strangler-fence-wait"] == "300"
            assert response.header("X-Strangler-Fence-Result") is None  # internal, stripped
            # vouched for: neither the next write nor a read waits for it again
            await client.request("POST", DEBIT, AUTH, b"{}")
            assert "x-strangler-fence" not in fake.seen[-1]
            await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert "x-strangler-fence" not in fake.seen[-1]
            # another client's write is not fenced by this client's
            await client.request("POST", DEBIT, {"Authorization": "Api-Key other"}, b"{}")
            assert "x-strangler-fence" not in fake.seen[-1]
            assert mono.requests == [OPEN]
            assert fence_value(server, "ledger.write", "write_fenced") == 1
            assert fence_value(server, "ledger.write", "write_waited") == 1
            assert fence_value(server, "ledger.write", "fenced") == 0
            client.close()

    run(scenario)


@pytest.mark.parametrize(("status", "result", "outcome"), [
    (404, "miss; ms=300", "write_miss"),  # the ledger has not seen the wallet yet
    (503, "miss; ms=300", "write_miss"),  # whatever the service answers, a 503 too
    (201, None, "write_unsupported"),  # a service that ignores the fence
])
def test_a_write_the_service_could_not_vouch_for_is_relayed_as_it_is_never_sent_to_the_monolith(
        status: int, result: str | None, outcome: str) -> None:
    def answer(headers: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        if result is not None and "x-strangler-fence" in headers:
            return status, [("X-Strangler-Fence-Result", result)]
        return status, []

    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(answer) as fake, \
                proxy(WRITE_TABLE, mono.url, fake.url, breaker_failures=1) as server:
            client = await Client.connect(server.port)
            await client.request("POST", OPEN, {**AUTH, "X-Request-ID": "open-1"}, b"{}")
            for n in range(3):
                response = await client.request("POST", DEBIT, AUTH, b'{"amount": "1.00"}')
                assert response.status == status and response.json() == {"upstream": "ledger"}
                assert response.header("X-Strangler-Fence-Result") is None
                assert fake.seen[-1]["x-strangler-fence"].startswith("open-1@")
                # the first write waits; after a miss the following ones only look
                assert fake.seen[-1]["x-strangler-fence-wait"] == ("300" if n == 0 else "0")
            assert mono.requests == [OPEN], "a write is never replayed on the monolith"
            assert fence_value(server, "ledger.write", outcome) == 3
            assert fence_value(server, "ledger.write", "fallback") == 0
            assert server.metrics.value("strangler_proxy_fallbacks_total", {
                "capability": "ledger.write", "upstream": "extracted", "kind": "fence_miss"}) == 0
            assert server.metrics.value("strangler_proxy_errors_total", {
                "capability": "ledger.write", "mode": "extracted", "upstream": "extracted",
                "kind": "fence_miss"}) == 0
            client.close()

    run(scenario)


def test_a_write_of_a_client_whose_tokens_overflowed_goes_unfenced_to_the_service_not_the_monolith() -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, ledger(lambda h: (201, [])) as fake, \
                proxy(WRITE_TABLE, mono.url, fake.url, fence=FenceConfig(max_tokens=1)) as server:
            client = await Client.connect(server.port)
            for n in range(2):  # the first token is dropped unverified: the client is bypassed
                await client.request("POST", OPEN, {**AUTH, "X-Request-ID": f"open-{n}"}, b"{}")
            read = await client.request("GET", "/api/v1/wallets/7/balance/", AUTH)
            assert read.json()["upstream"] == "monolith" and fake.seen == []
            response = await client.request("POST", DEBIT, AUTH, b'{"amount": "1.00"}')
            assert response.status == 201 and response.json() == {"upstream": "ledger"}
            assert "x-strangler-fence" not in fake.seen[-1]
            assert mono.requests == [OPEN, OPEN, "/api/v1/wallets/7/balance/"]
            assert fence_value(server, "ledger.write", "write_bypass") == 1
            client.close()

    run(scenario)
