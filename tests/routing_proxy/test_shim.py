"""A compatibility shim through the data plane, against real upstream servers on 127.0.0.1 (no mocks).

The extracted upstream gets the shim's own path (the query string kept); the monolith, a
fallback to it, and the shadow comparison's secondary (a monolith) get the legacy path; the
shadow comparison's candidate gets the shim's path.
"""

from __future__ import annotations

from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from shadow.rules import parse_rules
from shadow.sink import CandidateSink, SinkConfig
from shadow.store import InMemoryObservationStore
from tests.routing_proxy.helpers import Client, proxy, run, upstream, wait_for

BALANCE = RouteRule("GET", "/api/v1/wallets/{wallet_id}/balance/",
                    upstream_path="/v2/accounts/{wallet_id}/balance")
CREDIT = RouteRule("POST", "/api/v1/wallets/{wallet_id}/credit/",
                   upstream_path="/v2/accounts/{wallet_id}/credits")
HISTORY = RouteRule("GET", "/api/v1/wallets/{wallet_id}/transactions/")  # no shim


def table(mode: Mode) -> RouteTable:
    return RouteTable(1, (Capability("wallets.balance", (BALANCE, CREDIT, HISTORY), mode),))


def test_the_extracted_upstream_gets_the_shims_path_with_the_query_and_encoded_values_kept() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            first = await client.request("GET", "/api/v1/wallets/7/balance/?as_of=2024-01-31&x=%2F&y")
            assert first.status == 200 and first.json()["upstream"] == "extracted"
            assert first.json()["target"] == "/v2/accounts/7/balance?as_of=2024-01-31&x=%2F&y"
            # the second goes out on the kept-alive connection without a task (the fast path)
            second = await client.request("GET", "/api/v1/wallets/a%20b/balance/")
            assert second.json()["target"] == "/v2/accounts/a%20b/balance"
            literal = await client.request("GET", "/api/v1/wallets/%252F..%3B/balance/")
            assert literal.json()["target"] == "/v2/accounts/%252F..%3B/balance"
            posted = await client.request("POST", "/api/v1/wallets/7/credit/?dry=1", body=b'{"amount": 5}')
            assert (posted.json()["target"], posted.json()["body"]) == (
                "/v2/accounts/7/credits?dry=1", '{"amount": 5}')
            plain = await client.request("GET", "/api/v1/wallets/7/transactions/?page=2")
            assert plain.json()["target"] == "/api/v1/wallets/7/transactions/?page=2"
            assert mono.requests == []
            # decommissioning counts the legacy route, whatever path its new home has
            counts, monolith = server.behaviours.router.traffic.drain()
            assert counts[("GET", BALANCE.path)] == 3 and monolith == {}
            client.close()

    run(scenario)


def test_a_parameter_that_could_escape_its_segment_never_reaches_an_upstream() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.EXTRACTED), mono.url, ext.url) as server,
        ):
            for target in ("/api/v1/wallets/..%2F..%2Fadmin/balance/", "/api/v1/wallets/%2e%2e/balance/",
                           "/api/v1/wallets/7%2F..%2F8/balance/"):
                client = await Client.connect(server.port)
                refused = await client.request("GET", target)
                assert refused.status == 400 and refused.json()["error_code"] == "bad_request"
                client.close()
            assert mono.requests == [] and ext.requests == []

    run(scenario)


def test_the_monolith_gets_the_legacy_path_and_so_does_a_fallback_to_it() -> None:
    async def scenario() -> None:
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(table(Mode.MONOLITH), mono.url, ext.url) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/7/balance/?as_of=1")
            assert response.json()["target"] == "/api/v1/wallets/7/balance/?as_of=1"
            assert ext.requests == []
            client.close()
        async with (
            upstream("monolith") as mono,
            upstream("extracted", status=503) as failing,
            proxy(table(Mode.EXTRACTED), mono.url, failing.url) as server,
        ):
            client = await Client.connect(server.port)
            response = await client.request("GET", "/api/v1/wallets/7/balance/?as_of=1")
            assert response.status == 200 and response.json()["upstream"] == "monolith"
            assert failing.requests == ["/v2/accounts/7/balance?as_of=1"]
            assert mono.requests == ["/api/v1/wallets/7/balance/?as_of=1"]
            client.close()

    run(scenario)


def test_shadow_copies_reach_the_candidate_on_the_shims_path_and_the_secondary_on_the_legacy_one() -> None:
    async def scenario() -> None:
        store = InMemoryObservationStore()
        async with (
            upstream("monolith") as mono,
            upstream("candidate") as candidate,
            upstream("secondary") as secondary,
        ):
            sink = CandidateSink(SinkConfig(candidate.url, secondary_url=secondary.url), parse_rules(""),
                                 store)
            async with proxy(table(Mode.SHADOW), mono.url, candidate.url, shadow_sink=sink) as server:
                client = await Client.connect(server.port)
                response = await client.request("GET", "/api/v1/wallets/7/balance/?as_of=1")
                assert response.json()["upstream"] == "monolith"
                assert response.json()["target"] == "/api/v1/wallets/7/balance/?as_of=1"
                await wait_for(lambda: len(store.observations) == 1)
                client.close()
            await sink.close()
            assert candidate.requests == ["/v2/accounts/7/balance?as_of=1"]
            assert secondary.requests == ["/api/v1/wallets/7/balance/?as_of=1"]
            assert mono.requests == ["/api/v1/wallets/7/balance/?as_of=1"]
            assert store.observations[0].capability == "wallets.balance"

    run(scenario, timeout=30)
