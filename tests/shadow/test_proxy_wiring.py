"""The comparator wired into a proxy: options, lazy worker start, flushing on stop, per-capability candidates.

Real sockets (``tests.shadow.servers``) and real spawned worker processes; the
control-plane store is replaced by the worker's report-back channel, so no
database is needed here (the e2e test stores in the real one).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from routing_proxy.app import comparator_options
from routing_proxy.dataplane.metrics import ProxyMetrics
from routing_proxy.dataplane.shadow import InMemoryShadowSink, ShadowCopy, ShadowTee
from shadow.errors import RulesFileError
from shadow.observation import Outcome
from shadow.rules import parse_rules
from shadow.sink import CandidateSink, SinkConfig
from shadow.store import InMemoryObservationStore, ObservationStore
from shadow.worker import ComparatorProcess, WorkerSpec
from strangler.cli import main
from strangler.cli.routes_cmd import shadow_argv
from tests.routing_proxy.helpers import run
from tests.shadow.servers import Request, serve


def copy(request_id: str, capability: str = "wallets", target: bytes = b"/api/v1/wallets/7/",
         body: bytes = b'{"currency": "INR"}') -> ShadowCopy:
    return ShadowCopy(request_id, capability, "GET", target, ((b"Host", b"api.paystream.in"),), b"", 200,
                      ((b"Content-Type", b"application/json"),), body, False)


async def answering(currency: str, request: Request) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, f'{{"currency": "{currency}"}}'.encode()


def unreachable_store() -> ObservationStore:
    raise ConnectionError("control plane database unreachable")


def test_rules_may_name_a_candidate_per_capability_and_a_bad_one_is_refused_with_its_line() -> None:
    rules = parse_rules('[capabilities."wallets.credit"]\ncandidate = "http://127.0.0.1:8002"\n')
    assert rules.for_capability("wallets.credit").candidate == "http://127.0.0.1:8002"
    assert rules.for_capability("wallets").candidate is None
    with pytest.raises(RulesFileError) as error:
        parse_rules('[capabilities."w"]\ndry_run = true\ncandidate = "ftp://x"\n', "rules.toml")
    assert error.value.line == 3 and "is not a base URL" in str(error.value)


def test_the_sink_sends_a_capability_to_its_own_candidate_with_the_clients_host() -> None:
    async def scenario() -> None:
        async with (serve(lambda r: answering("INR", r)) as default,
                    serve(lambda r: answering("USD", r)) as special):
            rules = parse_rules(f'[capabilities."special"]\ncandidate = "{special.url}"\n')
            store = InMemoryObservationStore()
            sink = CandidateSink(SinkConfig(default.url), rules, store)
            await sink.observe_now(copy("r1"))
            await sink.observe_now(copy("r2", "special"))
            await sink.close()
            assert [r.target for r in default.requests] == ["/api/v1/wallets/7/"]
            assert len(special.requests) == 1
            assert {r.headers["host"] for r in (*default.requests, *special.requests)} == {"api.paystream.in"}
            outcomes = {o.capability: o.outcome for o in store.observations}
            assert outcomes == {"wallets": Outcome.MATCH, "special": Outcome.DIFF}

    run(scenario, timeout=30)


def test_the_worker_starts_on_the_first_copy_and_close_compares_every_copy_it_was_given() -> None:
    async def scenario() -> None:
        async with serve(lambda r: answering("INR", r)) as candidate:
            spec = WorkerSpec(SinkConfig(candidate.url), parse_rules(""), report=True)
            comparator = ComparatorProcess(spec)
            assert comparator.worker_pid is None  # not started: a proxy without shadow routes pays nothing
            for i in range(20):
                await comparator.consume(copy(f"r{i}"))  # queued while the worker boots
            await asyncio.to_thread(comparator.close, 60)
            assert comparator.worker_pid is not None
            assert sorted(o.request_id for o in comparator.observations) == sorted(f"r{i}" for i in range(20))
            assert comparator.counts["forwarded"] == 20 and comparator.worker_counts == {"match": 20}

    run(scenario, timeout=90)


def test_a_worker_whose_store_cannot_open_drops_copies_without_waiting() -> None:
    comparator = ComparatorProcess(WorkerSpec(SinkConfig("http://127.0.0.1:9"), parse_rules(""),
                                              store_factory=unreachable_store))

    async def offer(n: int) -> None:
        for i in range(n):
            await comparator.consume(copy(f"r{i}"))

    run(lambda: offer(1))
    assert comparator._starting is not None
    comparator._starting.join(60)
    run(lambda: offer(3))
    comparator.close(10)
    assert comparator.counts["dropped_worker_down"] == 3 and comparator.worker_pid is None


def test_stopping_the_tee_hands_every_queued_copy_to_the_sink() -> None:
    async def scenario() -> None:
        sink = InMemoryShadowSink()
        tee = ShadowTee(sink, 100, 1024, ProxyMetrics())
        for i in range(50):
            assert tee.offer(copy(f"r{i}"))
        tee.start()
        await tee.stop()
        assert len(sink.copies) == 50

    run(scenario, timeout=10)


def proxy_args(**given: object) -> argparse.Namespace:
    defaults: dict[str, object] = dict(
        shadow_compare=True, shadow_database_url=None, control_database_url=None, extracted_url="http://x:1",
        shadow_rules=None, shadow_secondary_url=None, shadow_effects_database_url=None, shadow_token="1")
    return argparse.Namespace(**{**defaults, **given})


def test_a_proxy_compares_when_asked_storing_in_the_control_plane_it_follows() -> None:
    attached = comparator_options(proxy_args(control_database_url="postgresql:///ctl"))
    assert attached is not None and (attached.database_url, attached.candidate_url) == (
        "postgresql:///ctl", "http://x:1")
    off = proxy_args(control_database_url="postgresql:///ctl", shadow_compare=False)
    assert comparator_options(off) is None
    on_file = comparator_options(proxy_args(shadow_database_url="postgresql:///obs", shadow_rules="r.toml"))
    assert on_file is not None and on_file.rules_path == "r.toml"


def test_compare_without_a_database_is_refused_at_parse_time(capsys: pytest.CaptureFixture[str]) -> None:
    from routing_proxy.app import main as proxy_main

    with pytest.raises(SystemExit) as exit_info:
        proxy_main(["routes.toml", "--monolith-url", "http://m:1", "--extracted-url", "http://e:2",
                    "--shadow-compare"])
    assert exit_info.value.code == 2 and "--shadow-database-url" in capsys.readouterr().err


def test_strangler_proxy_passes_the_comparator_options_and_refuses_a_broken_rules_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(no_shadow=False, shadow_rules="r.toml", shadow_secondary_url="http://s:2",
                              shadow_effects_database_url=None, shadow_token=None)
    assert shadow_argv(args, "postgresql:///mono") == [
        "--shadow-compare", "--shadow-effects-database-url", "postgresql:///mono", "--shadow-rules", "r.toml",
        "--shadow-secondary-url", "http://s:2"]
    assert shadow_argv(argparse.Namespace(no_shadow=True), "postgresql:///mono") == []
    broken = tmp_path / "rules.toml"
    broken.write_text('[capabilities."w"]\ntimeout_ms = -1\n')
    assert main(["proxy", "--shadow-rules", str(broken)]) == 65  # before any database or child process
    assert "rules.toml:2" in capsys.readouterr().err
