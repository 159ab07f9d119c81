"""The proxy in shadow mode with CandidateSink: real sockets, a monolith, a secondary and a buggy candidate.

The candidate has planted bugs: one field wrong on one endpoint, and a credit whose
dry run would publish one paisa more while its HTTP answer matches. Timestamps and
trace ids differ between every instance (noise) and must be cancelled by the secondary.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from shadow.aggregate import aggregate
from shadow.observation import EffectParity, Outcome
from shadow.rules import parse_rules
from shadow.side_effects import HEADER, Effect, InMemoryPrimaryEffects, encode_header
from shadow.sink import CandidateSink, SinkConfig
from shadow.store import InMemoryObservationStore
from tests.routing_proxy.helpers import dead_url, proxy, run, wait_for
from tests.shadow.servers import Request, serve

RULES = parse_rules("""
[capabilities."wallets"]
timeout_ms = 2000
dry_run = true
""")
TABLE = RouteTable(
    1,
    (
        Capability(
            "wallets",
            (
                RouteRule("GET", "/api/v1/wallets/{id}/"),
                RouteRule("GET", "/api/v1/wallets/{id}/transactions/"),
                RouteRule("POST", "/api/v1/wallets/{id}/credit/"),
                RouteRule("GET", "/api/v1/wallets/{id}/statement/"),
            ),
            mode=Mode.SHADOW,
        ),
    ),
)
Handler = Callable[[Request], Awaitable[tuple[int, dict[str, str], bytes]]]


def paystream(
    name: str,
    effects: InMemoryPrimaryEffects | None,
    *,
    wrong_currency: bool = False,
    extra_paisa: bool = False,
) -> Handler:
    """A PayStream-like instance. ``effects``: where it really publishes (the primary only)."""
    entry_ids = itertools.count(1000 if name == "monolith" else 5000 if name == "candidate" else 9000)
    sent: dict[str, bytes] = {}

    async def handle(request: Request) -> tuple[int, dict[str, str], bytes]:
        noise = {
            "generated_at": datetime.now(UTC).isoformat() + f"{uuid.uuid4().int % 10**6}",
            "meta": {"trace_id": uuid.uuid4().hex},
        }
        parts = request.target.split("?")[0].strip("/").split("/")
        headers = {"Content-Type": "application/json"}
        if parts[-1] == "statement":
            return 200, {"Content-Type": "text/plain"}, b"statement for wallet " + parts[3].encode()
        if parts[-1] == "credit":
            amount = json.loads(request.body)["amount"]
            entry = next(entry_ids)
            body = {"amount": amount, "wallet_id": int(parts[3]), **noise}
            event = Effect(
                "paystream.wallet.credited.v1",
                f"wallet:{parts[3]}",
                {"amount": amount + (1 if extra_paisa else 0), "entry_id": str(entry)},
            )
            if effects is not None:
                effects.effects[request.headers["x-request-id"]] = [event]
            if "x-strangler-shadow" in request.headers:
                headers[HEADER] = encode_header([event], [])
            payload = json.dumps(body).encode()
            return 201, headers, payload
        if parts[-1] == "transactions":
            body = {"results": [{"id": i, "amount": 100 * i} for i in range(3)], **noise}
        else:
            body = {
                "id": int(parts[3]),
                "balance": 500,
                "currency": "inr" if wrong_currency else "INR",
                **noise,
            }
        payload = json.dumps(body).encode()
        sent[request.headers.get("x-request-id", "")] = payload
        return 200, headers, payload

    handle.sent = sent  # type: ignore[attr-defined]  # the test reads what the client should have seen
    return handle


async def client_calls(url: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url) as client:
        calls = [
            client.get("/api/v1/wallets/7/", headers={"X-Strangler-Shadow": "forged"}),
            client.get("/api/v1/wallets/7/transactions/"),
            client.post("/api/v1/wallets/7/credit/", json={"amount": 250}),
            client.get("/api/v1/wallets/7/statement/"),
        ]
        return [await call for call in calls]


def test_the_report_finds_exactly_the_planted_bugs_and_cancels_the_noise() -> None:
    async def scenario() -> None:
        effects = InMemoryPrimaryEffects()
        monolith_handler = paystream("monolith", effects)
        async with (
            serve(monolith_handler) as monolith,
            serve(paystream("candidate", None, wrong_currency=True, extra_paisa=True)) as candidate,
            serve(paystream("secondary", None)) as secondary,
        ):
            store = InMemoryObservationStore()
            sink = CandidateSink(
                SinkConfig(candidate.url, secondary.url, shadow_token="t0k"),
                RULES,
                store,
                primary_effects=effects,
            )
            async with proxy(TABLE, monolith.url, candidate.url, shadow_sink=sink) as server:
                responses = await client_calls(f"http://127.0.0.1:{server.port}")
                await wait_for(lambda: len(store.observations) == 4)
            await sink.close()
            # the client saw exactly what the monolith sent, nothing of the candidate
            for response in responses[:2]:
                assert (
                    response.content
                    == monolith_handler.sent[  # type: ignore[attr-defined]
                        response.headers["x-request-id"]
                    ]
                )
            assert responses[0].json()["currency"] == "INR" and responses[2].status_code == 201
            # a client cannot forge the shadow flag; the candidate only sees the proxy's token
            assert all("x-strangler-shadow" not in r.headers for r in monolith.requests)
            assert {r.headers["x-strangler-shadow"] for r in candidate.requests} == {"t0k"}
            summary = aggregate(store.observations)
            assert set(summary.groups) == {
                ("wallets", "/currency", "changed"),
                ("wallets", "#effects/paystream.wallet.credited.v1/*/amount", "changed"),
            }
            assert {"/generated_at", "/meta/trace_id"} <= set(summary.noise)
            credit = next(o for o in store.observations if o.method == "POST")
            assert credit.effects is EffectParity.DIFF
            assert [d.path for d in credit.differences] == ["#effects/paystream.wallet.credited.v1/0/amount"]
            statement = next(o for o in store.observations if o.path.endswith("statement/"))
            assert statement.outcome is Outcome.MATCH  # equal non-JSON bytes: a match

    run(scenario)


def test_a_candidate_that_is_down_is_its_own_category_and_the_client_is_served() -> None:
    async def scenario() -> None:
        async with serve(paystream("monolith", None)) as monolith:
            store = InMemoryObservationStore()
            sink = CandidateSink(SinkConfig(dead_url()), RULES, store)
            async with (
                proxy(TABLE, monolith.url, dead_url(), shadow_sink=sink) as server,
                httpx.AsyncClient() as client,
            ):
                response = await client.get(f"http://127.0.0.1:{server.port}/api/v1/wallets/1/")
                await wait_for(lambda: len(store.observations) == 1)
            await sink.close()
            assert response.status_code == 200
            assert store.observations[0].outcome is Outcome.CANDIDATE_ERROR

    run(scenario)


def test_a_slow_candidate_times_out_and_the_client_does_not_wait_for_it() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow(request: Request) -> tuple[int, dict[str, str], bytes]:
            await release.wait()  # answers only after the client already has its response
            return 200, {}, b"{}"

        rules = parse_rules('[capabilities."wallets"]\ntimeout_ms = 100\n')
        async with serve(paystream("monolith", None)) as monolith, serve(slow) as candidate:
            store = InMemoryObservationStore()
            sink = CandidateSink(SinkConfig(candidate.url), rules, store)
            async with (
                proxy(TABLE, monolith.url, candidate.url, shadow_sink=sink) as server,
                httpx.AsyncClient() as client,
            ):
                response = await client.get(f"http://127.0.0.1:{server.port}/api/v1/wallets/1/")
                assert response.status_code == 200 and store.observations == []
                await wait_for(lambda: len(store.observations) == 1)
                release.set()
            await sink.close()
            assert store.observations[0].outcome is Outcome.CANDIDATE_TIMEOUT

    run(scenario)


def test_writes_are_not_copied_to_a_candidate_without_dry_run_support() -> None:
    async def scenario() -> None:
        rules = parse_rules('[capabilities."wallets"]\ndry_run = false\n')
        async with (
            serve(paystream("monolith", None)) as monolith,
            serve(paystream("candidate", None)) as candidate,
        ):
            store = InMemoryObservationStore()
            sink = CandidateSink(SinkConfig(candidate.url), rules, store)
            async with (
                proxy(TABLE, monolith.url, candidate.url, shadow_sink=sink) as server,
                httpx.AsyncClient() as client,
            ):
                await client.post(
                    f"http://127.0.0.1:{server.port}/api/v1/wallets/1/credit/", json={"amount": 1}
                )
                await client.get(f"http://127.0.0.1:{server.port}/api/v1/wallets/1/")
                await wait_for(lambda: len(store.observations) == 1)
            await sink.close()
            assert [r.method for r in candidate.requests] == ["GET"]
            assert sink.counts["write_skipped"] == 1

    run(scenario)


def test_sampling_copies_the_declared_share_deterministically() -> None:
    from shadow.sink import sampled

    ids = [uuid.UUID(int=i).hex for i in range(4000)]
    share = sum(sampled(i, 10) for i in ids) / len(ids)
    assert 0.08 < share < 0.12
    assert [sampled(i, 10) for i in ids] == [sampled(i, 10) for i in ids]
    assert all(sampled(i, 100) for i in ids) and not any(sampled(i, 0) for i in ids)


def test_recent_observations_time_window_is_respected_by_the_fake_store() -> None:
    store = InMemoryObservationStore()
    assert store.since(None, datetime.now(UTC) - timedelta(hours=1)) == []
