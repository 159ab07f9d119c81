"""Benchmark shadow mode: primary latency with and without shadowing, and comparator throughput.

1. Primary latency. One event loop (a background thread) runs a monolith stand-in
   (an asyncio HTTP server answering a realistic ~3 KB JSON page) and two proxy
   instances: one with the capability in monolith mode, one in shadow mode copying
   every request. The candidate stand-in (the same server) runs in its own process,
   as the extracted service does. The client runs in its own process too, as real
   clients do (one keep-alive connection per proxy) and alternates requests between
   the two proxies, so drift hits both equally. Ratio = shadow / monolith per
   percentile. ``--client-in-process`` puts the client back in the proxy's process
   (the topology before session 4), where it competes with the proxy for one GIL.
   Two phases in one invocation (``--kinds``), each with fresh proxies: ``in_process``
   (the CandidateSink compares in the proxy's process: the design before) and
   ``process`` (ComparatorProcess: the proxy forwards copies to a worker process).
   Honest caveat: everything shares one machine; the worker and the candidate
   compete with the proxy for the same cores.
2. Comparator throughput: ``compare()`` on realistic bodies (20 transactions, noise
   fields ignored by rules) on one core; matching and one-field-differing pairs;
   ``before`` is whole-document deepdiff (``shadow.diff_reference``), ``after`` the
   fast path (``shadow.diff.compare_json``).

Run: ``python bench/shadow_bench.py [--requests 4000] [--rounds 5] [--seconds 3]``.
Writes bench/results/shadow.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

from legacy_client.stats import percentile
from routing_proxy.dataplane.config import ProxyConfig, UpstreamConfig
from routing_proxy.dataplane.server import ProxyServer
from routing_proxy.dataplane.shadow import ShadowSink
from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from shadow.diff import Side, compare
from shadow.diff_reference import compare_json_reference
from shadow.rules import parse_rules
from shadow.sink import CandidateSink, SinkConfig
from shadow.store import InMemoryObservationStore
from shadow.worker import ComparatorProcess, WorkerSpec

RESULTS = Path(__file__).resolve().parent / "results" / "shadow.json"
PATH = "/api/v1/wallets/7/transactions/"
RULES = parse_rules('[capabilities."ledger"]\nignore = ["/meta/**", "/results/*/created_at"]\n')


def page(seed: int, bump: bool = False) -> bytes:
    results = [
        {
            "id": 1000 + i,
            "wallet_id": 7,
            "txn_type": 1 + i % 3,
            "status": 2,
            "amount": 100 * i + (bump and i == 5),
            "balance_after": 5000 + 100 * i,
            "reference": f"REF-{i:06d}",
            "description": "salary credit",
            "created_at": f"2025-01-01T00:{seed % 60:02d}:{i:02d}Z",
            "related_wallet_id": None,
        }
        for i in range(20)
    ]
    body = {
        "count": 20,
        "next": None,
        "previous": None,
        "results": results,
        "meta": {"request_id": f"{seed:032x}", "generated_at": time.time()},
    }
    return json.dumps(body).encode()


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.n = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for _ in range(data.count(b"\r\n\r\n")):  # GETs without bodies
            self.n += 1
            body = page(self.n)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )


def _candidate_main(out: Any) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", 0)
        out.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(serve())


def start_candidate() -> int:
    """The candidate stand-in in its own process, as the extracted service is: the copies it
    answers must not be charged to the proxy's event loop."""
    context = multiprocessing.get_context("spawn")
    out: Any = context.Queue()
    context.Process(target=_candidate_main, args=(out,), name="bench-candidate", daemon=True).start()
    port: int = out.get(timeout=60)
    return port


def table(mode: Mode) -> RouteTable:
    return RouteTable(
        1, (Capability("ledger", (RouteRule("GET", "/api/v1/wallets/{id}/transactions/"),), mode=mode),)
    )


def start_stack(kind: str) -> tuple[dict[str, int], ShadowSink, InMemoryObservationStore]:
    ready = threading.Event()
    out: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        monolith = await loop.create_server(_Upstream, "127.0.0.1", 0)
        urls = {
            "monolith": f"http://127.0.0.1:{monolith.sockets[0].getsockname()[1]}",
            "candidate": f"http://127.0.0.1:{await asyncio.to_thread(start_candidate)}",
        }
        config = ProxyConfig(
            upstreams={
                "monolith": UpstreamConfig.from_url("monolith", urls["monolith"]),
                "extracted": UpstreamConfig.from_url("extracted", urls["candidate"]),
            },
            access_log=False,
        )
        store = InMemoryObservationStore()
        sink: ShadowSink
        if kind == "process":
            sink = ComparatorProcess(WorkerSpec(SinkConfig(urls["candidate"]), RULES))
            await asyncio.to_thread(sink.start)
        else:
            sink = CandidateSink(SinkConfig(urls["candidate"]), RULES, store)
        plain, shadowed = (
            ProxyServer(table(Mode.MONOLITH), config),
            ProxyServer(table(Mode.SHADOW), config, shadow_sink=sink),
        )
        await plain.start("127.0.0.1", 0)
        await shadowed.start("127.0.0.1", 0)
        out.update(ports={"monolith": plain.port, "shadow": shadowed.port}, sink=sink, store=store)
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: uvloop.run(main()), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("the bench stack did not start within 10 s")
    return out["ports"], out["sink"], out["store"]


def _client_samples(ports: dict[str, int], requests: int, jitter_ms: float = 0.0) -> dict[str, list[float]]:
    """The legacy client: one keep-alive connection per proxy, alternating, warm-up excluded.

    ``jitter_ms``: a random pause of 0 to that many ms after each request. Without it the
    client's cadence is strictly periodic, and the comparator worker's work for one copy
    (a fixed-length chain: read the copy, call the candidate, compare) lands at the same
    phase of the following requests every time; how much of it hits a shadowed request
    then depends on that chain's length, not on the load (see BENCHMARKS, session 6).
    """
    clients = {mode: httpx.Client(base_url=f"http://127.0.0.1:{port}") for mode, port in ports.items()}
    samples: dict[str, list[float]] = {"monolith": [], "shadow": []}
    pause = random.Random(7).uniform
    for i in range(requests + 200):
        for mode in ("monolith", "shadow") if i % 2 else ("shadow", "monolith"):
            started = time.perf_counter()
            clients[mode].get(PATH).raise_for_status()
            if i >= 200:  # warm-up excluded
                samples[mode].append((time.perf_counter() - started) * 1000)
            if jitter_ms:
                time.sleep(pause(0, jitter_ms / 1000))
    return samples


def _client_process(ports: dict[str, int], requests: int, jitter_ms: float, out: Any) -> None:
    out.put(_client_samples(ports, requests, jitter_ms))


def latency(requests: int, kind: str, client_in_process: bool = False,
            jitter_ms: float = 0.0) -> dict[str, Any]:
    ports, sink, store = start_stack(kind)
    if client_in_process:  # the topology before: the client shares the proxy's GIL
        samples = _client_samples(ports, requests, jitter_ms)
    else:  # a real client is another process (another machine): it does not share the proxy's GIL
        context = multiprocessing.get_context("spawn")
        out: Any = context.Queue()
        client = context.Process(target=_client_process, args=(ports, requests, jitter_ms, out), daemon=True)
        client.start()
        samples = out.get(timeout=600)
        client.join(10)
    if isinstance(sink, ComparatorProcess):
        sink.close(timeout=60)  # the worker finishes what it was given and reports its tally
        observed = sum(v for k, v in sink.worker_counts.items() if k in ("match", "diff"))
        counts = {**sink.counts, **{f"worker_{k}": v for k, v in sink.worker_counts.items()}}
        if sink.worker_cpu_s is not None and sink.counts["forwarded"]:
            counts["worker_cpu_us_per_copy"] = round(sink.worker_cpu_s / sink.counts["forwarded"] * 1e6)
    else:
        deadline = time.monotonic() + 10
        while len(store.observations) < requests and time.monotonic() < deadline:
            time.sleep(0.05)
        observed, counts = len(store.observations), dict(sink.counts)  # type: ignore[attr-defined]
    row: dict[str, Any] = _percentiles(samples)
    row["requests_per_mode"] = requests
    row["observations"] = observed
    row["sink_counts"] = counts
    row["samples"] = samples
    return row


def _percentiles(samples: dict[str, list[float]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for q in (50, 99):
        mono, shad = (percentile(sorted(samples[m]), q) for m in ("monolith", "shadow"))
        row[f"p{q}"] = {"monolith_ms": mono, "shadow_ms": shad, "ratio": shad / mono}
    return row


def latency_rounds(requests: int, kind: str, client_in_process: bool, rounds: int,
                   jitter_ms: float = 0.0) -> dict[str, Any]:
    """``rounds`` fresh stacks: the headline pools every round's samples; each round's ratios
    are kept too, since one round's p99 rests on a few dozen samples."""
    runs = [latency(requests, kind, client_in_process, jitter_ms) for _ in range(rounds)]
    pooled = {m: [x for run in runs for x in run["samples"][m]] for m in ("monolith", "shadow")}
    row = _percentiles(pooled)
    row["requests_per_mode"] = requests * rounds
    row["rounds"] = [{q: run[q]["ratio"] for q in ("p50", "p99")} for run in runs]
    row["observations"] = sum(run["observations"] for run in runs)
    row["sink_counts"] = [run["sink_counts"] for run in runs]
    return row


def throughput(seconds: float) -> dict[str, Any]:
    rules = RULES.for_capability("ledger")
    out: dict[str, Any] = {}
    for (name, bump), (when, json_diff) in (
        (case, impl)
        for case in (("matching", False), ("one_field_differs", True))
        for impl in (("before", compare_json_reference), ("after", None))
    ):
        pairs = [
            (
                Side(200, {"content-type": "application/json"}, page(i)),
                Side(200, {"content-type": "application/json"}, page(i + 1, bump)),
            )
            for i in range(200)
        ]
        n, started = 0, time.process_time()
        while time.process_time() - started < seconds:
            for primary, candidate in pairs:
                compare(primary, candidate, rules, json_diff=json_diff)
            n += len(pairs)
        out[f"{name}/{when}"] = {
            "comparisons_per_s_per_core": n / (time.process_time() - started),
            "body_bytes": len(pairs[0][0].body),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per mode")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per comparator case")
    parser.add_argument("--rounds", type=int, default=1,
                        help="latency rounds per kind, each with fresh proxies; samples are pooled")
    parser.add_argument("--kinds", default="in_process,process",
                        help="comma-separated: in_process (compare in the proxy's process), process (worker)")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="random pause of 0 to this many ms after each request (0: strictly periodic)")
    parser.add_argument("--client-in-process", action="store_true",
                        help="run the client in the proxy's process (the bench's topology before session 4)")
    args = parser.parse_args()
    unknown = set(args.kinds.split(",")) - {"in_process", "process"}
    if unknown:
        parser.error(f"--kinds: unknown {', '.join(sorted(unknown))}; use in_process and/or process")
    console = Console()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0 <= args.jitter_ms <= 1000:
        parser.error(f"--jitter-ms must be between 0 and 1000 (ms), not {args.jitter_ms:g}")
    lat = {kind: latency_rounds(args.requests, kind, args.client_in_process, args.rounds, args.jitter_ms)
           for kind in args.kinds.split(",")}
    thr = throughput(args.seconds)
    result = {
        "primary_latency": lat,
        "comparator": thr,
        "jitter_ms": args.jitter_ms,
        "goals": {"latency_ratio_max": 1.05, "comparisons_per_s_min": 5000},
    }
    table_ = Table(title="shadow bench")
    for column in ("measure", "monolith mode", "shadow mode", "ratio / value", "goal"):
        table_.add_column(column)
    for (kind, q) in ((k, q) for k in lat for q in ("p50", "p99")):
        r = lat[kind][q]
        table_.add_row(
            f"primary latency {q} ({kind})",
            f"{r['monolith_ms']:.3f} ms",
            f"{r['shadow_ms']:.3f} ms",
            f"{r['ratio']:.3f}",
            "≤ 1.05",
        )
    for name, r in thr.items():
        table_.add_row(
            f"comparisons/s/core ({name}, {r['body_bytes']} B)",
            "",
            "",
            f"{r['comparisons_per_s_per_core']:.0f}",
            "≥ 5000",
        )
    console.print(table_)
    for kind, row in lat.items():
        console.print(f"{kind}: observations recorded: {row['observations']}, "
                      f"sink counts: {row['sink_counts']}")
        console.print(f"{kind}: per-round shadow/monolith ratios: "
                      + ", ".join(f"p50 {r['p50']:.3f} p99 {r['p99']:.3f}" for r in row["rounds"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
