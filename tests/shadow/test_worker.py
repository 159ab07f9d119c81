"""ComparatorProcess: copies cross to a worker process that calls the candidate, compares and reports back.

Real sockets and a real spawned process: the proxy in shadow mode forwards each
copy; the worker finds the planted bug (``/currency``), and the client only ever
sees the monolith's answer.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from routing_proxy.dataplane.shadow import ShadowCopy
from shadow.observation import Outcome
from shadow.sink import SinkConfig
from shadow.worker import ComparatorProcess, DiscardingStore, WorkerSpec
from tests.routing_proxy.helpers import proxy, run
from tests.shadow.servers import serve
from tests.shadow.test_sink_proxy import RULES, TABLE, paystream


def test_the_worker_process_compares_and_the_client_gets_the_monolith_answer() -> None:
    async def scenario() -> None:
        async with (
            serve(paystream("monolith", None)) as monolith,
            serve(paystream("candidate", None, wrong_currency=True)) as candidate,
            serve(paystream("secondary", None)) as secondary,
        ):
            comparator = ComparatorProcess(
                WorkerSpec(SinkConfig(candidate.url, secondary.url), RULES, report=True))
            await asyncio.to_thread(comparator.start)
            try:
                async with (proxy(TABLE, monolith.url, candidate.url, shadow_sink=comparator) as server,
                            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client):
                    first = await client.get("/api/v1/wallets/7/")
                    second = await client.get("/api/v1/wallets/7/transactions/")
                    async with asyncio.timeout(30):
                        while len(comparator.observations) < 2:
                            comparator.collect()
                            await asyncio.sleep(0.01)
            finally:
                await asyncio.to_thread(comparator.close)
            assert comparator.worker_pid != os.getpid()  # the diffing happened elsewhere
            assert first.json()["currency"] == "INR" and second.status_code == 200
            by_path = {o.path: o for o in comparator.observations}
            wallet = by_path["/api/v1/wallets/7/"]
            assert wallet.outcome is Outcome.DIFF
            assert [(d.path, d.kind) for d in wallet.differences] == [("/currency", "changed")]
            assert by_path["/api/v1/wallets/7/transactions/"].outcome is Outcome.MATCH
            assert comparator.counts["forwarded"] == 2
            assert comparator.worker_counts.get("diff") == 1  # the worker's own tally, sent on close

    run(scenario, timeout=90)


def _copy(request_id: str) -> ShadowCopy:
    return ShadowCopy(request_id, "wallets", "GET", b"/api/v1/wallets/1/", (), b"", 200, (), b"{}", False)


def test_a_dead_worker_drops_copies_at_once_and_counts_them() -> None:
    comparator = ComparatorProcess(WorkerSpec(SinkConfig("http://127.0.0.1:9"), RULES))
    comparator.start()
    comparator._process.terminate()  # the worker crashed
    comparator._process.join(10)

    async def offer() -> None:
        for i in range(3):
            await comparator.consume(_copy(f"r{i}"))

    run(offer)  # returns: consume never waits on a dead worker (run() would fail on a hang)
    comparator.close()
    assert comparator.counts["dropped_worker_down"] == 3 and comparator.counts["forwarded"] == 0


def slow_store() -> DiscardingStore:
    """A store that takes a while to open: the worker reads no copy meanwhile, so the pipe fills."""
    time.sleep(2.0)
    return DiscardingStore()


def _big_copy(request_id: str) -> ShadowCopy:
    body = b'{"pad": "' + b"x" * 10000 + b'"}'
    return ShadowCopy(request_id, "wallets", "GET", b"/api/v1/wallets/1/", (), b"", 200, (), body, False)


def _slow_comparator() -> ComparatorProcess:
    spec = WorkerSpec(SinkConfig("http://127.0.0.1:9"), RULES, store_factory=slow_store, report=True)
    return ComparatorProcess(spec, max_queued_bytes=16384, pipe_bytes=16384)


def test_a_full_pipe_and_buffer_drop_copies_without_waiting_and_never_tear_one() -> None:
    """A four-page pipe holds one ~10 KB copy and part of the next, a 16 KB buffer the rest of
    that one and one more: they are written when the pipe drains; copies beyond are dropped and
    counted; every forwarded copy is compared, intact, without close() having to push it."""
    comparator = _slow_comparator()
    assert comparator.capacity == 16384

    async def offer() -> None:
        for i in range(30):
            await comparator.consume(_big_copy(f"r{i}"))  # returns at once: run() fails on a hang
        async with asyncio.timeout(60):  # the loop's writer finishes the torn frame once the worker reads
            while len(comparator.observations) < comparator.counts["forwarded"]:
                comparator.collect()
                await asyncio.sleep(0.05)

    try:
        run(offer, timeout=90)
    finally:
        comparator.close()
    forwarded, dropped = comparator.counts["forwarded"], comparator.counts["dropped_queue_full"]
    assert forwarded + dropped == 30 and dropped > 0 and forwarded >= 3
    assert sorted(o.request_id for o in comparator.observations) == sorted(f"r{i}" for i in range(forwarded))
    assert sum(comparator.worker_counts.values()) == forwarded  # nothing torn: each frame decoded whole


def test_close_writes_what_waits_when_no_loop_is_left_to_do_it() -> None:
    comparator = _slow_comparator()

    async def offer() -> None:
        for i in range(4):
            await comparator.consume(_big_copy(f"r{i}"))

    run(offer)  # the loop ends with r1 half written, r2 waiting whole, r3 dropped
    assert comparator._pending
    comparator.close(60)
    assert sorted(o.request_id for o in comparator.observations) == ["r0", "r1", "r2"]
    assert comparator.counts["dropped_queue_full"] == 1
