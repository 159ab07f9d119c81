"""Ledger query service vs the monolith on the balance and history endpoints, and event-to-visible lag.

    python bench/ledger_query_bench.py [--transactions 50000] [--duration 10] [--lag-seconds 10]
        [--skip-lag | --skip-read-path] [--rounds 1] [--warmup 2] [--profile DIR]

One command, one run. Starts the local stack on free ports under a temporary
STRANGLER_HOME (embedded PostgreSQL, Tansu, the ACL relay, the monolith under
gunicorn), seeds the monolith *with capture installed* so the seeded history reaches
the ledger as events, then starts the ledger consumer and the ledger service under
gunicorn with the monolith's own gunicorn command line (workers, threads, worker class,
keep-alive, timeouts, access log), and waits until the ledger has caught up. Same data
on both sides.

1. Read path: for each of balance and history, at 8 and 32 concurrent clients, GET
   requests with the owning merchant's API key on random seeded wallets, against the
   monolith and against the ledger service directly: req/s and p95; the ratio is
   ledger/monolith (goal >= 2x with a lower p95). Also each service's own CPU per
   request (gunicorn master + workers, from /proc): unlike req/s it does not depend
   on whether the one-process load generator or another tenant of the host is the
   bottleneck. Database CPU is not in it. Before timing, a few requests check that the
   ledger side is the ledger (its sync-lag header) and that both sides answer the same,
   then both sides are warmed up (``--warmup``). ``--rounds N`` repeats each cell with
   the sides' order alternating; ``--profile DIR`` records both sides with py-spy.
2. Lag: credits written as the monolith writes them (lock wallet, save wallet, insert
   ledger row; one transaction each) at a paced ~1,000 events/s; a poller on the
   ledger database notes when each row becomes visible (what the API would serve).
   Event-to-visible is commit (in this process) to first seen; p50/p95/p99 (goal
   p99 <= 500 ms). The rows are watched from a separate process (the writers' threads
   keep the GIL), reading only rows not seen yet; its poll period (5 ms sleep + the
   query, printed) bounds the measurement's resolution. The same run first measures a low-rate baseline
   (``--lag-baseline-rate``, 50/s: the pipeline's floor, no backlog) and prints the
   ratio. Per credit, the databases' own stamps split the lag into stages (capture's
   commit stamp -> relay marked it handled, i.e. Kafka acked -> consumer's inbox row,
   i.e. its batch began applying -> first seen); the consumer's metrics give its batch
   sizes and per-batch inbox/handler/commit time and the producer -> poll wait; /proc
   gives the cores each process (relay, broker, consumer, PostgreSQL, this load
   generator) used, and the writers' own latency and schedule slip show whether the
   load generator kept its rate.

Prints a rich table and writes bench/results/ledger_query.json.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"balance": "/api/v1/wallets/{}/balance/", "history": "/api/v1/wallets/{}/transactions/"}
MONOLITH_APP = "monolith.wsgi:application"
LEDGER_APP = "extracted.ledger_query.wsgi:application"
LEDGER_SETTINGS = "extracted.ledger_query.settings"
LAG_HEADER = "X-Ledger-Sync-Lag"  # extracted.ledger_query.sync.LAG_HEADER: only the ledger sends it


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def _load(
    base: str, template: str, targets: list[tuple[str, int]], clients: int, duration: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    rng = random.Random(7)

    async def worker() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            while time.perf_counter() < deadline:
                key, wallet = rng.choice(targets)
                start = time.perf_counter()
                response = await http.get(
                    template.format(wallet), headers={"Authorization": f"Api-Key {key}"}
                )
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "req_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
    }


_WRK_SCRIPT = """
local targets = {%s}
math.randomseed(7)
request = function()
  local t = targets[math.random(#targets)]
  wrk.headers["Authorization"] = t[2]
  return wrk.format("GET", t[1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\\"requests\\": %%d, \\"errors\\": %%d, \\"p50_us\\": %%d, "
    .. "\\"p95_us\\": %%d, \\"duration_us\\": %%d}\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(95), summary.duration))
end
"""


def _wrk_load(base: str, template: str, targets: list[tuple[str, int]], clients: int,
              duration: float) -> dict[str, Any]:
    """The same load from wrk (C, one thread): a Python client saturates before the servers do."""
    rows = ", ".join(f'{{"{template.format(w)}", "Api-Key {k}"}}' for k, w in targets)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % rows)
    try:
        out = subprocess.run(["wrk", "-t", "1", "-c", str(clients), "-d", f"{duration:g}s",
                              "-s", script.name, base], capture_output=True, text=True, check=True,
                             timeout=duration + 60).stdout
    finally:
        os.unlink(script.name)
    found = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
    seconds = found["duration_us"] / 1e6
    return {"requests": found["requests"], "errors": found["errors"], "seconds": seconds,
            "req_per_s": round(found["requests"] / seconds, 1),
            "p50_ms": round(found["p50_us"] / 1000, 2), "p95_ms": round(found["p95_us"] / 1000, 2)}


def same_gunicorn(monolith_argv: list[str], app: str, bind: str) -> list[str]:
    """The monolith's gunicorn command line serving ``app`` on ``bind``: workers, threads, worker
    class, keep-alive, timeouts and access log stay the same, so neither side is favoured."""
    if MONOLITH_APP not in monolith_argv or "--bind" not in monolith_argv:
        raise SystemExit(f"the stack's monolith command line changed shape: {monolith_argv}")
    argv = [app if a == MONOLITH_APP else a for a in monolith_argv]
    argv[argv.index("--bind") + 1] = bind
    return argv


def check_sides(monolith_url: str, ledger_url: str, targets: list[tuple[str, int]], sample: int = 5) -> int:
    """Before timing anything: the ledger side is the ledger (it sends the sync-lag header, the
    monolith does not) and both answer the same for the same requests (same data).

    The balance's ``updated_at`` is left out: for history that reached the ledger without the
    wallet's own timestamp (the seed's) the ledger shows the last posting's time
    (``projector._post``), the monolith the seed's final balance update. Returns the number of
    requests compared; exits with the first difference.
    """
    compared = 0
    with httpx.Client(timeout=30) as http:
        for key, wallet in random.Random(11).sample(targets, min(sample, len(targets))):
            for template in ENDPOINTS.values():
                path = template.format(wallet)
                got = {}
                for side, base in (("monolith", monolith_url), ("ledger", ledger_url)):
                    r = http.get(base + path, headers={"Authorization": f"Api-Key {key}"})
                    # history pages link to the next page with the server's own address
                    body = json.loads(r.content.replace(base.encode(), b"<base>"))
                    if "balance" in body:
                        body.pop("updated_at", None)
                    got[side] = (r.status_code, body, LAG_HEADER in r.headers)
                if not got["ledger"][2] or got["monolith"][2]:
                    raise SystemExit(f"GET {path}: {LAG_HEADER} sent by the monolith: {got['monolith'][2]}, "
                                     f"by the ledger: {got['ledger'][2]}; is each side the service it names?")
                if got["ledger"][:2] != got["monolith"][:2]:
                    raise SystemExit(f"GET {path}: the sides differ (same data?): "
                                     f"monolith {got['monolith'][:2]!r} vs ledger {got['ledger'][:2]!r}")
                if got["ledger"][0] != 200:
                    raise SystemExit(f"GET {path}: {got['ledger'][0]} on both sides; the targets are wrong")
                compared += 1
    return compared


@dataclass
class _SideTotals:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    p95s: list[float] = field(default_factory=list)


def measure_cell(endpoint: str, clients: int, servers: dict[str, tuple[str, int]],
                 load: Callable[[str], dict[str, Any]], rounds: int,
                 profiler: Profiler | None = None) -> dict[str, Any]:
    """One endpoint x clients cell: each side under the same load, ``rounds`` times, the order
    alternating (monolith first, then ledger first, ...) so a burst of a neighbour's load on a
    shared host does not always land on the same side. Per side: req/s over all rounds, the
    median of the rounds' p95 and the server's CPU per request (gunicorn master + workers, from
    /proc: client-independent); the ratios are ledger / monolith of those."""
    totals = {side: _SideTotals() for side in servers}
    order = list(servers)
    for n in range(rounds):
        for side in order if n % 2 == 0 else order[::-1]:
            url, pid = servers[side]
            spy = profiler.start(pid, f"{side}_{endpoint}_{clients}_{n + 1}") if profiler else None
            cpu_before = server_cpu_seconds(pid)
            result = load(url)
            cpu = server_cpu_seconds(pid) - cpu_before
            if profiler is not None and spy is not None:
                profiler.stop(spy)
            t = totals[side]
            t.requests += result["requests"]
            t.errors += result["errors"]
            t.seconds += result["seconds"]
            t.cpu += cpu
            t.p95s.append(result["p95_ms"])
    row: dict[str, Any] = {"endpoint": endpoint, "clients": clients}
    for side, t in totals.items():
        row[f"{side}_errors"] = t.errors
        row[f"{side}_req_per_s"] = round(t.requests / t.seconds, 1) if t.seconds else 0.0
        row[f"{side}_p95_ms"] = round(statistics.median(t.p95s), 2)
        row[f"{side}_cpu_ms_per_req"] = round(t.cpu * 1000 / max(1, t.requests), 2)
    row["rps_ratio"] = round(row["ledger_req_per_s"] / row["monolith_req_per_s"], 2)
    row["p95_ratio"] = round(row["ledger_p95_ms"] / row["monolith_p95_ms"], 2)
    row["cpu_ratio"] = round(row["ledger_cpu_ms_per_req"] / row["monolith_cpu_ms_per_req"], 2)
    return row


_PLUMBING = ("threading.py", "concurrent/futures/", "gunicorn/arbiter.py", "gunicorn/app/", "<frozen runpy>",
             "gunicorn/__main__.py")


class Profiler:
    """``--profile DIR``: py-spy on a server's process tree during each load window.

    Samples only threads holding the GIL (``--gil``: Python's own CPU, not waits on sockets or
    the database), 100 Hz, without pausing the process. Writes py-spy's raw collapsed stacks
    per window and a summary: each function's share of the samples (inclusive and self).
    The sampler costs CPU of its own: profiled runs are for finding where time goes, not for
    the table.
    """

    def __init__(self, out_dir: Path) -> None:
        found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if found is None:
            raise SystemExit("--profile needs py-spy (pip install py-spy) on PATH or beside this Python")
        self.exe, self.out_dir = found, out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    def start(self, pid: int, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        raw = self.out_dir / f"{name}.txt"
        proc = subprocess.Popen([self.exe, "record", "--pid", str(pid), "--subprocesses", "--gil",
                                 "--nonblocking", "--rate", "100", "--format", "raw", "-o", str(raw)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached to the master and its workers before the load starts
        return proc, raw

    def stop(self, spy: tuple[subprocess.Popen[bytes], Path]) -> None:
        proc, raw = spy
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        proc.wait(timeout=60)
        if raw.exists():
            raw.with_suffix(".summary.txt").write_text(summarise_profile(raw.read_text()))


def summarise_profile(raw: str, top: int = 40) -> str:
    """Function-level shares of py-spy raw (collapsed) stacks, plumbing frames left out."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f for f in stack.split(";")
                  if not f.startswith(("process ", "thread "))]
        frames = [f for f in frames if not any(p in f for p in _PLUMBING)]
        if not frames:
            continue
        total += n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    lines = [f"{total} samples (GIL held)"]
    for title, counts in (("inclusive", inclusive), ("self", own)):
        lines.append(f"-- {title}")
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        lines += [f"{100 * v / total:5.1f}% {k}" for k, v in ranked]
    return "\n".join(lines) + "\n"


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of a gunicorn master and its workers so far, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # exited meanwhile
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_caught_up(monolith_db: str, ledger_db: str, timeout: float) -> float:
    """Seconds until every committed write was relayed and the consumer then found nothing pending."""
    started = time.monotonic()
    deadline = started + timeout
    with (
        psycopg.connect(monolith_db, autocommit=True) as mono,
        psycopg.connect(ledger_db, autocommit=True) as led,
    ):
        while time.monotonic() < deadline:
            pending = mono.execute(
                "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL"
            ).fetchone()
            if pending and pending[0] == 0:
                moment = datetime.now(UTC)
                while time.monotonic() < deadline:
                    row = led.execute("SELECT caught_up_at FROM ledger_sync_state WHERE id = 1").fetchone()
                    if row and row[0] and row[0] > moment:
                        return time.monotonic() - started
                    time.sleep(0.05)
            time.sleep(0.2)
    raise SystemExit(f"the ledger did not catch up within {timeout:.0f}s; see the logs under STRANGLER_HOME")


def measure_lag(
    monolith_db: str,
    ledger_db: str,
    wallets: list[int],
    rate: float,
    seconds: float,
    writers: int = 8,
    probes: Probes | None = None,
    load_nice: int = 0,
) -> dict[str, Any]:
    """Write credits at ``rate`` for ``seconds``; per credit, commit -> first seen in the ledger.

    Times are wall-clock (``time.time()``) so they line up with the databases' own
    ``clock_timestamp()`` stamps (same host), which give the per-stage breakdown.
    """
    committed: dict[int, float] = {}
    write_s: list[float] = []  # each write transaction, first statement to commit returned
    late_s: list[float] = []  # how far behind its schedule each write started
    lock = threading.Lock()
    with psycopg.connect(ledger_db, autocommit=True) as led:
        start_row = led.execute("SELECT coalesce(max(id), 0) FROM ledger_transaction").fetchone()
    floor = int(start_row[0]) if start_row else 0
    spawn = multiprocessing.get_context("spawn")
    stop, seen_count = spawn.Event(), spawn.Value("l", -1)  # -1 until the watcher's first poll
    receive, send = spawn.Pipe(duplex=False)
    watcher = spawn.Process(target=watch_rows, args=(ledger_db, floor, stop, seen_count, send), daemon=True)
    watcher.start()
    ready_by = time.perf_counter() + 60
    while seen_count.value < 0:  # a row written before the watcher looks would be seen late
        if time.perf_counter() > ready_by or not watcher.is_alive():
            raise SystemExit("the row watcher did not start; see its traceback above")
        time.sleep(0.01)

    def write(index: int) -> None:
        mine = wallets[index::writers]
        interval = writers / rate
        next_at = time.perf_counter()
        end = next_at + seconds
        with psycopg.connect(monolith_db) as conn:
            if load_nice:  # this writer thread and its backend yield the CPU to the pipeline
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), load_nice)
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                conn.commit()
                if row:
                    os.setpriority(os.PRIO_PROCESS, int(row[0]), load_nice)
            n = 0
            while next_at < end:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                began = time.perf_counter()
                late_s.append(began - next_at)
                wallet = mine[n % len(mine)]
                n += 1
                with conn.transaction():
                    row = conn.execute(
                        "SELECT balance FROM wallets_wallet WHERE id = %s FOR UPDATE", (wallet,)
                    ).fetchone()
                    balance = int(row[0]) + 100 if row else 100
                    conn.execute(
                        "UPDATE wallets_wallet SET balance = %s, updated_at = now() WHERE id = %s",
                        (balance, wallet),
                    )
                    txn = conn.execute(
                        "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status,"
                        " reference, description, created_at) VALUES (%s, 1, 100, %s, 1, 'bench', '', now())"
                        " RETURNING id",
                        (wallet, balance),
                    ).fetchone()
                done = time.time()
                write_s.append(time.perf_counter() - began)
                with lock:
                    committed[int(txn[0]) if txn else -1] = done
                next_at += interval

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    before = probes.snapshot() if probes else None
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written_for = time.perf_counter() - began
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and seen_count.value < len(committed):  # bench rows only
        time.sleep(0.05)
    drained_for = time.perf_counter() - began
    after = probes.snapshot() if probes else None
    stop.set()
    seen, polls, gaps = receive.recv()
    watcher.join(10)
    lags = [seen[i] - c for i, c in committed.items() if i in seen]
    result: dict[str, Any] = {
        "rate": rate,
        "events": len(committed),
        "achieved_events_per_s": round(len(committed) / written_for, 1),
        "visible": len(lags),
        "lag_p50_ms": ms(percentile(lags, 50)),
        "lag_p95_ms": ms(percentile(lags, 95)),
        "lag_p99_ms": ms(percentile(lags, 99)),
        "lag_max_ms": ms(max(lags)) if lags else None,
        "load": {
            "write_txn_p50_ms": ms(percentile(write_s, 50)),
            "write_txn_p99_ms": ms(percentile(write_s, 99)),
            "start_late_p99_ms": ms(percentile(late_s, 99)),
            "poll_period_ms": ms(drained_for / max(1, polls)),
            "poll_gap_p99_ms": ms(percentile(gaps, 99)),
            "poll_gap_max_ms": ms(max(gaps, default=0.0)),
        },
        "stages": stage_breakdown(monolith_db, ledger_db, committed, seen),
    }
    if probes and before and after:
        result["cpu_share"] = probes.cpu_share(before, after, drained_for)
        result["consumer_batches"] = probes.batch_stages(before, after)
    return result


STAGES = {  # name -> (from, to); every stamp is wall-clock on this host
    "monolith commit -> relay acked": ("commit_db", "handled"),
    "relay acked -> consumer applying": ("handled", "applying"),
    "consumer applying -> visible": ("applying", "seen"),
    "commit (DB stamp) -> visible": ("commit_db", "seen"),
    "commit (client) -> visible": ("commit_client", "seen"),
}


def watch_rows(ledger_db: str, floor: int, stop: Any, seen_count: Any, out: Any) -> None:
    """Own process (the writers keep their GIL): when each ledger row above ``floor`` was first seen.

    Rows become visible out of id order (wallets spread over partitions), so each poll reads
    the rows above the highest id seen plus the holes below it, never again what was seen:
    its cost follows what is new. Sends ``(seen, polls, gaps)`` when ``stop`` is set: ``gaps``
    are the times between consecutive polls' answers, the resolution actually achieved (a
    watcher starved of CPU sees rows late and inflates the lag).
    """
    seen: dict[int, float] = {}
    holes: set[int] = set()
    gaps: list[float] = []
    top, polls, last = floor, 0, time.time()
    with psycopg.connect(ledger_db, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute("SELECT id FROM ledger_transaction WHERE id > %s OR id = ANY(%s)",
                                (top, list(holes))).fetchall()
            now = time.time()
            gaps.append(now - last)
            last = now
            for (txn_id,) in rows:
                seen.setdefault(txn_id, now)
                holes.discard(txn_id)
            highest = max((txn_id for (txn_id,) in rows), default=top)
            holes.update(i for i in range(top + 1, highest) if i not in seen)
            top = max(top, highest)
            seen_count.value = len(seen)
            polls += 1
            time.sleep(0.005)
    out.send((seen, polls, gaps))


def stage_breakdown(
    monolith_db: str, ledger_db: str, committed: dict[int, float], seen: dict[int, float]
) -> dict[str, dict[str, float | None]]:
    """Per credit, from the databases' own stamps: where the lag accrued (p50/p99 per stage).

    ``commit_db``: the capture's commit stamp (taken in the committing transaction, just before
    COMMIT); ``handled``: the relay marked the change handled (all its events acknowledged by
    Kafka); ``applying``: the consumer wrote the inbox row (its batch's transaction began
    applying); ``seen``: the bench's poller first read the row.
    """
    from acl.adapters.pg_outbox import origin_of
    from acl.domain import event_id

    with psycopg.connect(monolith_db) as mono:
        origin = origin_of(mono)
        rows = mono.execute(
            "SELECT (o.after->>'id')::bigint, o.id, extract(epoch FROM t.committed_at),"
            " extract(epoch FROM o.handled_at)"
            " FROM strangler_acl.outbox o JOIN strangler_acl.tx_commit t USING (txid)"
            " WHERE o.table_name = 'wallets_transaction' AND o.op = 'INSERT'"
            " AND (o.after->>'id')::bigint = ANY(%s)",
            (list(committed),),
        ).fetchall()
    stamps: dict[int, dict[str, float]] = {}
    by_event: dict[str, int] = {}
    for txn_id, outbox_id, commit_db, handled in rows:
        stamps[txn_id] = {"commit_client": committed[txn_id], "commit_db": float(commit_db)}
        if handled is not None:
            stamps[txn_id]["handled"] = float(handled)
        by_event[event_id(f"{origin}/outbox:{outbox_id}", 0)] = txn_id
        if txn_id in seen:
            stamps[txn_id]["seen"] = seen[txn_id]
    with psycopg.connect(ledger_db) as led:
        for eid, applied in led.execute(
            "SELECT event_id, extract(epoch FROM applied_at) FROM strangler_inbox.inbox"
            " WHERE consumer = 'ledger-query' AND event_id = ANY(%s)",
            (list(by_event),),
        ):
            stamps[by_event[eid]]["applying"] = float(applied)
    out: dict[str, dict[str, float | None]] = {}
    for name, (start, end) in STAGES.items():
        spans = [s[end] - s[start] for s in stamps.values() if start in s and end in s]
        out[name] = {"n": len(spans), "p50_ms": ms(percentile(spans, 50)),
                     "p99_ms": ms(percentile(spans, 99))}
    return out


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class Probes:
    """CPU of the stack's processes and the consumer's own stage metrics, read before and after a run."""

    def __init__(self, pids: dict[str, int], consumer_metrics_url: str) -> None:
        self.pids, self.metrics_url = pids, consumer_metrics_url

    def snapshot(self) -> dict[str, Any]:
        cpu = {name: server_cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["bench writers"] = time.process_time()  # the row watcher is its own process
        return {"cpu": cpu, "metrics": scrape(self.metrics_url)}

    @staticmethod
    def cpu_share(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, float]:
        """Cores used per process tree over the window (1.0 = one core busy all along)."""
        return {name: round((after["cpu"][name] - before["cpu"][name]) / seconds, 2) for name in after["cpu"]}

    @staticmethod
    def batch_stages(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """The consumer's own per-batch numbers over the window (``StageMetrics``)."""
        delta = {k: v - before["metrics"].get(k, 0.0) for k, v in after["metrics"].items()}

        def total(name: str, **labels: str) -> float:
            return sum(v for (n, ls), v in delta.items() if n == name and labels.items() <= dict(ls).items())

        batches = total("strangler_consumer_batch_size_count")
        size = total("strangler_consumer_batch_size_sum")
        out: dict[str, Any] = {
            "batches": int(batches),
            "mean_batch_size": round(size / batches, 1) if batches else None,
        }
        for stage in ("waited", "inbox", "handler", "commit"):
            n = total("strangler_consumer_stage_seconds_count", stage=stage)
            out[f"{stage}_mean_ms"] = (
                ms(total("strangler_consumer_stage_seconds_sum", stage=stage) / n) if n else None
            )
        return out


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--merchants", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint x clients x side")
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--lag-rate", type=float, default=1000.0, help="events per second for the lag run")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--load-nice", type=int, default=0,
                        help="niceness of the lag run's writer threads and their PostgreSQL backends "
                             "(the monolith's load, which in production runs on other hosts than the "
                             "relay and the consumer); 0: they compete with the pipeline as equals")
    parser.add_argument("--lag-baseline-rate", type=float, default=50.0,
                        help="events per second of the same run's low-rate baseline (0: skip it)")
    parser.add_argument("--lag-baseline-seconds", type=float, default=5.0)
    parser.add_argument("--skip-read-path", action="store_true", help="measure the lag only")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="read-path load generator: wrk when installed (auto), else the Python one")
    parser.add_argument("--skip-lag", action="store_true", help="measure the read path only")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="read path: seconds of unmeasured load per side and endpoint first (0: none)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="read path: measure each cell this many times per side, alternating which "
                             "side goes first (each round --duration seconds)")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="read path: record each side with py-spy during each window into DIR "
                             "(raw stacks and a summary per window); numbers of such a run are not "
                             "for the table")
    parser.add_argument("--vacuum-after-seed", action="store_true",
                        help="VACUUM the outbox once the seed is relayed, before measuring the lag")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ledger_query.json"))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    if args.warmup < 0:
        parser.error(f"--warmup must not be negative, not {args.warmup:g}")
    if args.duration <= 0:
        parser.error(f"--duration must be positive, not {args.duration:g}")
    try:
        if not all(int(c) > 0 for c in args.clients.split(",")):
            raise ValueError
    except ValueError:
        parser.error(f"--clients must be positive integers separated by commas, not {args.clients!r}")

    home = Path(tempfile.mkdtemp(prefix="strangler-ledger-bench-"))
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    os.environ.update(
        {
            "STRANGLER_HOME": str(home),
            # a port given by the caller is kept (parallel runs on one host each pass their own)
            "STRANGLER_PG_PORT": os.environ.get("STRANGLER_PG_PORT") or str(free_port()),
            "STRANGLER_MONOLITH_PORT": str(free_port()),
            "STRANGLER_KAFKA_PORT": str(free_port()),
            "STRANGLER_LOG_LEVEL": "WARNING",
        }
    )
    from strangler.cli.seed_cmd import run_seed
    from strangler.config import get_settings
    from strangler.stack.processes import ManagedProcess
    from strangler.stack.stack import Stack

    console = Console(width=200)
    settings = get_settings()
    say = lambda line: console.print(line, highlight=False)  # noqa: E731
    stack = Stack(settings, say=say)
    ledger_port = free_port()
    metrics_port = free_port()
    ledger_url = f"http://127.0.0.1:{ledger_port}"
    rows: list[dict[str, Any]] = []
    try:
        stack.start(with_kafka=True, with_worker=False)  # installs capture before the seed writes
        subprocess.run(
            [sys.executable, "-m", "extracted.ledger_query.manage", "migrate", "-v0"],
            check=True,
            cwd=ROOT,
            timeout=300,
        )
        # row triggers on: the seeded history flows through capture and the relay as events
        seeded = run_seed(args.transactions, args.merchants, 42, reset=True, capture_history=True)
        # The stack's children default to the monolith's settings: the ledger's must be named, or
        # its WSGI entry point would serve the monolith (every read-path run before session 4 did).
        env = {"STRANGLER_HOME": str(home), "DJANGO_SETTINGS_MODULE": LEDGER_SETTINGS}
        monolith_argv = next(p.argv for p in stack.processes if p.name == "monolith")
        ledger_argv = same_gunicorn(monolith_argv, LEDGER_APP, f"127.0.0.1:{ledger_port}")
        for process, description in (
            (
                ManagedProcess(
                    "consumer",
                    [sys.executable, "-m", "extracted.ledger_query.consume",
                     "--metrics-port", str(metrics_port)],
                    settings.log_dir / "consumer.log",
                    lambda: True,
                    env,
                ),
                "ledger consumer",
            ),
            (
                ManagedProcess(
                    "ledger",
                    ledger_argv,
                    settings.log_dir / "ledger.log",
                    _http_ok(f"{ledger_url}/readyz"),
                    env,
                ),
                f"ledger query service on {ledger_url}, gunicorn options as the monolith's",
            ),
        ):
            stack._spawn(process, description)
        pids = {p.name: p.popen.pid for p in stack.processes if p.popen is not None}
        caught_up_s = wait_caught_up(settings.monolith_database_url, settings.ledger_database_url, 900)
        say(f"ledger caught up with the seeded history {caught_up_s:.1f}s after the consumer started")
        if args.vacuum_after_seed:
            # The seed's history went through capture in one burst: its handled outbox rows leave
            # dead entries in the relay's pending-row index that autovacuum (a minute apart) has
            # not reclaimed yet, and every claim's bitmap scan reads them again.
            with psycopg.connect(settings.monolith_database_url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE) strangler_acl.outbox, strangler_acl.tx_commit")
            say("vacuumed the outbox after the seed (--vacuum-after-seed)")
        with psycopg.connect(settings.monolith_database_url) as conn:
            owners = conn.execute("SELECT id, merchant_id FROM wallets_wallet ORDER BY id").fetchall()
            merchant_ids = [m for (m,) in conn.execute("SELECT id FROM accounts_merchant ORDER BY id")]
        key_of = dict(zip(merchant_ids, seeded.api_keys, strict=True))
        targets = [(key_of[m], w) for w, m in owners]
        use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
        say(f"read-path load from {'wrk' if use_wrk else 'the Python client'}")
        if not args.skip_read_path:
            n = check_sides(settings.monolith_url, ledger_url, targets)
            say(f"checked {n} requests: the ledger side is the ledger, both sides answer the same")
        profiler = Profiler(Path(args.profile)) if args.profile else None
        servers = {"monolith": (settings.monolith_url, pids["monolith"]),
                   "ledger": (ledger_url, pids["ledger"])}
        clients_list = [int(c) for c in args.clients.split(",")]

        def load(url: str, template: str, clients: int, seconds: float) -> dict[str, Any]:
            if use_wrk:
                return _wrk_load(url, template, targets, clients, seconds)
            return asyncio.run(_load(url, template, targets, clients, seconds))

        if args.warmup > 0 and not args.skip_read_path:
            # not measured: every worker thread opens its connections and every worker process
            # imports its URLconf (and the modules it names) on its first request
            for template in ENDPOINTS.values():
                for url, _ in servers.values():
                    load(url, template, max(clients_list), args.warmup)
            say(f"warmed up both sides for {args.warmup:g}s per endpoint")
        for endpoint, template in [] if args.skip_read_path else ENDPOINTS.items():
            for clients in clients_list:
                rows.append(measure_cell(
                    endpoint, clients, servers,
                    functools.partial(load, template=template, clients=clients, seconds=args.duration),
                    args.rounds, profiler))
        if stack.postgres is not None:
            pids["postgres"] = int((stack.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        watched = ("relay", "kafka", "consumer", "postgres")
        probes = Probes({name: pids[name] for name in watched if name in pids},
                        f"http://127.0.0.1:{metrics_port}/metrics")
        lags = [
            measure_lag(settings.monolith_database_url, settings.ledger_database_url, [w for w, _ in owners],
                        rate, seconds, probes=probes, load_nice=args.load_nice)
            for rate, seconds in ((args.lag_baseline_rate, args.lag_baseline_seconds),
                                  (args.lag_rate, args.lag_seconds))
            if rate > 0 and not args.skip_lag
        ]
        lag = lags[-1] if lags else None
    finally:
        stack.stop()

    table = Table(
        title=f"ledger query vs monolith, {args.transactions:,} seeded transactions, "
        f"{settings.monolith_workers} gunicorn workers x {settings.monolith_threads} threads each"
    )
    for column in rows[0] if rows else []:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    if rows:
        console.print(table)
    if lags:
        print_lag(console, lags)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "transactions": args.transactions,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "warmup_s": args.warmup,
                "cpu_count": os.cpu_count(),
                "note": "one run on a shared, noisy machine; client, servers and databases on the same host",
                "catch_up_after_seed_s": round(caught_up_s, 1),
                "gunicorn": {"monolith": monolith_argv[2:], "ledger": ledger_argv[2:]},
                "read_path": rows,
                "lag": lag,
                "lag_runs": lags,
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}")
    return 0


def print_lag(console: Console, runs: list[dict[str, Any]]) -> None:
    """One table of the lag runs (the last is the measured rate; a first one is its baseline),
    the stage breakdown side by side, and ratios of the measured run to the baseline."""
    headline = [k for k, v in runs[0].items() if not isinstance(v, dict)]
    table = Table(title="event-to-visible lag (commit in the monolith -> row readable in the ledger DB)")
    for column in headline:
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(*(str(run[k]) for k in headline))
    console.print(table)
    for section in ("load", "consumer_batches", "cpu_share"):
        if section not in runs[-1]:
            continue
        sub = Table(title=f"{section} per run (cpu_share: cores busy over the run incl. drain)")
        sub.add_column("rate")
        for column in runs[-1][section]:
            sub.add_column(column, justify="right")
        for run in runs:
            sub.add_row(str(run["rate"]), *(str(run.get(section, {}).get(c)) for c in runs[-1][section]))
        console.print(sub)
    stages = Table(title="stage p50 / p99 ms per run (from the databases' own stamps)")
    stages.add_column("stage")
    for run in runs:
        stages.add_column(f"{run['rate']:.0f}/s", justify="right")
    if len(runs) > 1:
        stages.add_column("p99 ratio", justify="right")
    for name in runs[-1]["stages"]:
        cells = [f"{r['stages'][name]['p50_ms']} / {r['stages'][name]['p99_ms']}" for r in runs]
        if len(runs) > 1:
            base = runs[0]["stages"][name]["p99_ms"]
            cells.append(f"{runs[-1]['stages'][name]['p99_ms'] / base:.2f}" if base else "-")
        stages.add_row(name, *cells)
    console.print(stages)
    if len(runs) > 1 and runs[0]["lag_p99_ms"]:
        console.print(f"lag p99 at {runs[-1]['rate']:.0f}/s vs {runs[0]['rate']:.0f}/s baseline: "
                      f"{runs[-1]['lag_p99_ms'] / runs[0]['lag_p99_ms']:.2f}x (goal: p99 <= 500 ms)")


def _http_ok(url: str) -> Any:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


if __name__ == "__main__":
    sys.exit(main())
