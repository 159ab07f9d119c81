"""ACL benchmark: capture overhead on writes, relay throughput, commit-to-Kafka latency at 1,000 writes/s.

One command: ``/work/venv/bin/python bench/acl_bench.py`` (starts its own embedded
PostgreSQL and Tansu on free ports, migrates a scratch monolith database, prints
a rich table and writes bench/results/acl.json).

- capture ratio: the SQL of a credit (lock wallet, INSERT ledger row, UPDATE balance,
  one autocommit statement, one round trip), median latency with the triggers vs without, alternating rounds
  on the same database and connection so drift hits both sides alike.
- throughput: a pre-filled outbox of ledger inserts drained by one PythonRelay
  (translate + validate + CloudEvents + idempotent produce + delivery reports + mark).
- parallel: the same, drained by ``--relays`` relay processes at once (default 2, one per core),
  as a deployment runs them; they share the outbox through FOR UPDATE SKIP LOCKED lanes.
- latency: two writer threads paced at 500 credits/s each while one relay runs; per
  event, the time from the commit stamp (deferred trigger at COMMIT) to the delivery report.

``--ab REF`` compares relay throughput of this checkout against the relay as it was at git
``REF`` (exported with ``git archive``, read-only), in one run: the same outbox fill, the same
database and broker, alternating which side goes first each round, each drain in its own
process (fresh interpreter, producer connected before the clock starts). It reports both
sides' median events/s, the ratio of medians and the spread of the per-round ratios, which
is what to quote on a busy machine; CPU per event is the drain process's CPU time (all its
threads, librdkafka's included) over the events it moved. ``--parts`` picks which measurements
run; ``breakdown`` times the credit under capture variants that each strip one more piece of the
trigger (NOTIFY, commit stamp, wallet lookup, settings, lane/context, row images), interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from strangler.stack.kafka import tansu_argv
from strangler.stack.net import free_port

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acl.adapters.kafka_publisher import KafkaPublisher  # noqa: E402
from acl.adapters.pg_outbox import PgOutboxStore  # noqa: E402
from acl.contracts import ContractRegistry, load_contracts  # noqa: E402
from acl.envelope import OutgoingMessage  # noqa: E402
from acl.install import _DDL, SCHEMA, install, uninstall  # noqa: E402
from acl.ops import ensure_topics, event_topics  # noqa: E402
from acl.ports import PendingChange  # noqa: E402
from acl.relay import PythonRelay  # noqa: E402
from strangler.stack.postgres import EmbeddedPostgres  # noqa: E402


def first(cur: psycopg.Cursor[Any]) -> Any:
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("query returned no row")
    return row[0]



def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LatencyRelay(PythonRelay):
    """Keeps raw commit-to-ack samples (the Prometheus histogram only has buckets)."""

    samples: list[float]

    def _observe(self, pending: PendingChange, messages: list[OutgoingMessage], now: datetime) -> None:
        if messages:
            self.samples.append((datetime.now(UTC) - pending.committed_at).total_seconds())


_CREDIT = """
WITH w AS (SELECT id, balance + 100 AS balance FROM wallets_wallet WHERE id = %(w)s FOR UPDATE),
     t AS (INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,
                                            description, created_at)
           SELECT id, 1, 100, balance, 1, '', '', now() FROM w)
UPDATE wallets_wallet SET balance = w.balance, updated_at = now() FROM w WHERE wallets_wallet.id = w.id
"""


def credit_sql(conn: psycopg.Connection[Any], wallet: int) -> None:
    """A credit as the monolith does it (lock, ledger row, balance), in one statement = one transaction."""
    conn.execute(_CREDIT, {"w": wallet})


def seed_wallets(db: str, n: int) -> list[int]:
    with psycopg.connect(db, autocommit=True) as conn:
        m = first(
            conn.execute(
                "INSERT INTO accounts_merchant (name, email, is_active, created_at) VALUES"
                " ('bench', 'b@example.com', true, now()) RETURNING id"
            )
        )
        u = first(
            conn.execute(
                "INSERT INTO accounts_user (merchant_id, external_ref, full_name, email, phone, kyc_status,"
                " created_at, updated_at) VALUES (%s, 'b', 'Bench', '', '', 0, now(), now()) RETURNING id",
                (m,),
            )
        )
        return [
            first(
                conn.execute(
                    "INSERT INTO wallets_wallet (merchant_id, user_id, currency, balance, status,"
                    " limits_locked, created_at, updated_at) VALUES (%s, %s, 'INR', 0, 1, true, now(), now())"
                    " RETURNING id",
                    (m, u),
                )
            )
            for _ in range(n)
        ]


def mark_all_handled(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE strangler_acl.outbox SET handled_at = now(), outcome = 'published'"
            " WHERE handled_at IS NULL"
        )


def capture_ratio(db: str, wallets: list[int], rounds: int = 6, per_round: int = 1500) -> dict[str, float]:
    on: list[float] = []
    off: list[float] = []
    with psycopg.connect(db, autocommit=True) as conn:
        for _ in range(200):  # warm caches and plans
            credit_sql(conn, wallets[0])
        for r in range(rounds):
            for capture in (False, True) if r % 2 == 0 else (True, False):
                (install if capture else uninstall)(db)
                sink = on if capture else off
                for i in range(per_round):
                    start = time.perf_counter()
                    credit_sql(conn, wallets[i % len(wallets)])
                    sink.append(time.perf_counter() - start)
    install(db)
    mark_all_handled(db)
    return {
        "write_p50_ms_capture_off": statistics.median(off) * 1e3,
        "write_p50_ms_capture_on": statistics.median(on) * 1e3,
        "write_p99_ms_capture_off": pct(off, 0.99) * 1e3,
        "write_p99_ms_capture_on": pct(on, 0.99) * 1e3,
        "write_latency_ratio_p50": statistics.median(on) / statistics.median(off),
        "writes_per_side": len(on),
    }


# ---- capture cost breakdown (--parts breakdown) ---------------------------------------------
# Each variant strips one more piece from the installed capture, so the step between two rows
# is what that piece costs a credit. They are measurements, never something to install.
_CAPTURE_FN = _DDL[_DDL.index(f"CREATE OR REPLACE FUNCTION {SCHEMA}.capture()") : _DDL.index(
    f"CREATE OR REPLACE FUNCTION {SCHEMA}.stamp_commit()"
)]
_NO_STAMP = f"DROP TRIGGER IF EXISTS stamp_commit ON {SCHEMA}.outbox;"


def _capture_without(*cuts: tuple[str, str]) -> str:
    text = _CAPTURE_FN
    for old, new in cuts:
        if old not in text:
            raise RuntimeError(f"acl/install.py changed; this breakdown variant no longer applies: {old!r}")
        text = text.replace(old, new)
    return text


_CUT_ENRICH = ("IF TG_ARGV[2] <> '' THEN", "IF false THEN")
_CUT_SETTINGS = (
    "nullif(current_setting('strangler.correlation_id', true), ''),\n"
    "                nullif(current_setting('strangler.traceparent', true), '')",
    "NULL, NULL",
)
_CUT_FIRST = (
    "first    boolean := current_setting('strangler_acl.tx', true) IS DISTINCT FROM tx::text;",
    "first    boolean := false;",
)


def _bare_capture(body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {SCHEMA}.capture() RETURNS trigger LANGUAGE plpgsql AS $fn$"
        f" BEGIN {body} RETURN NULL; END $fn$; {_NO_STAMP}"
    )


CAPTURE_VARIANTS: dict[str, str | None] = {
    "off": None,
    "full (installed)": "",
    "- NOTIFY": f"CREATE OR REPLACE FUNCTION {SCHEMA}.stamp_commit() RETURNS trigger LANGUAGE plpgsql AS $fn$"
    f" BEGIN INSERT INTO {SCHEMA}.tx_commit (txid) VALUES (NEW.txid) ON CONFLICT DO NOTHING; RETURN NULL;"
    " END $fn$;",
    "- commit stamp": _NO_STAMP,
    "- wallet lookup": _capture_without(_CUT_ENRICH) + _NO_STAMP,
    "- settings": _capture_without(_CUT_ENRICH, _CUT_SETTINGS, _CUT_FIRST) + _NO_STAMP,
    "- lane, key, context (row images only)": _bare_capture(
        f"INSERT INTO {SCHEMA}.outbox (txid, table_name, op, lane, aggregate_type, before, after)"
        " VALUES (pg_current_xact_id(), TG_TABLE_NAME, TG_OP, 0, TG_ARGV[0],"
        " CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,"
        " CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);"
    ),
    "- row images (bare outbox row)": _bare_capture(
        f"INSERT INTO {SCHEMA}.outbox (txid, table_name, op, lane, aggregate_type)"
        " VALUES (pg_current_xact_id(), TG_TABLE_NAME, TG_OP, 0, TG_ARGV[0]);"
    ),
    "empty trigger": _bare_capture(""),
}


def capture_breakdown(db: str, wallets: list[int], rounds: int = 12, per_round: int = 500) -> dict[str, Any]:
    """Credit p50 under each variant, variants interleaved (rotated and reversed every round)."""
    names = list(CAPTURE_VARIANTS)
    samples: dict[str, list[float]] = {n: [] for n in names}
    round_p50: dict[str, list[float]] = {n: [] for n in names}
    with psycopg.connect(db, autocommit=True) as conn:
        for _ in range(300):
            credit_sql(conn, wallets[0])
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in reversed(order) if r % 2 else order:
                variant = CAPTURE_VARIANTS[name]
                if variant is None:
                    uninstall(db)
                else:
                    install(db)
                    if variant:
                        with psycopg.connect(db, autocommit=True) as ddl:
                            ddl.execute(variant.encode())
                for i in range(50):  # the new function's plans
                    credit_sql(conn, wallets[i % len(wallets)])
                times = []
                for i in range(per_round):
                    start = time.perf_counter()
                    credit_sql(conn, wallets[i % len(wallets)])
                    times.append(time.perf_counter() - start)
                samples[name] += times
                round_p50[name].append(statistics.median(times))
    install(db)
    mark_all_handled(db)
    off = statistics.median(samples["off"])
    out: dict[str, Any] = {}
    for name in names:
        ratios = [v / o for v, o in zip(round_p50[name], round_p50["off"], strict=True)]
        out[f"breakdown {name}: p50 ms, ratio, round ratios"] = (
            f"{statistics.median(samples[name]) * 1e3:.3f}, {statistics.median(samples[name]) / off:.3f},"
            f" {min(ratios):.2f}..{max(ratios):.2f}"
        )
    return out


def fill_outbox(db: str, wallets: list[int], events: int) -> None:
    """``events`` captured ledger inserts, in many transactions like real traffic, each captured per row."""
    with psycopg.connect(db, autocommit=True) as conn:
        for start in range(0, events, 5000):
            conn.execute(
                "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status,"
                " reference, description, created_at)"
                " SELECT (%s::bigint[])[1 + g %% %s::int], 1, 100, 100, 1,"
                " '', '', now() FROM generate_series(%s::int, %s::int) g",
                (wallets, len(wallets), start, min(start + 5000, events) - 1),
            )


def throughput(db: str, bootstrap: str, wallets: list[int], events: int = 60_000) -> dict[str, float]:
    fill_outbox(db, wallets, events)
    relay = PythonRelay(
        PgOutboxStore(db), KafkaPublisher(bootstrap), ContractRegistry(load_contracts()), batch_size=5000
    )
    begin = time.perf_counter()
    done = 0
    while n := relay.run_once():
        done += n
    elapsed = time.perf_counter() - begin
    relay.publisher.close()
    relay.store.close()
    return {"relay_events": done, "relay_seconds": elapsed, "relay_events_per_s": done / elapsed}


# Runs in a child process with the relay's tree first on sys.path: argv = tree, db, bootstrap.
_DRAIN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.relay import PythonRelay
relay = PythonRelay(PgOutboxStore(sys.argv[2]), KafkaPublisher(sys.argv[3]),
                    ContractRegistry(load_contracts()), batch_size=5000)
relay.publisher._client().list_topics(timeout=10)  # connected before the clock starts
cpu, begin, done = time.process_time(), time.perf_counter(), 0
while n := relay.run_once():
    done += n
elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
relay.close()
relay.publisher.close()
relay.store.close()
print(json.dumps({"events": done, "seconds": elapsed, "cpu_seconds": cpu}))
"""


# N of these drain one outbox together; each waits for the shared start time (argv[4]) so the
# clock starts with every producer connected, and reports its own start and end on the wall clock.
_DRAIN_TOGETHER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.relay import PythonRelay
import psycopg
relay = PythonRelay(PgOutboxStore(sys.argv[2], lanes_per_claim=int(sys.argv[5])),
                    KafkaPublisher(sys.argv[3]), ContractRegistry(load_contracts()), batch_size=5000)
relay.publisher._client().list_topics(timeout=10)
left = "SELECT EXISTS (SELECT 1 FROM strangler_acl.outbox WHERE handled_at IS NULL)"
with psycopg.connect(sys.argv[2], autocommit=True) as conn:
    while time.time() < float(sys.argv[4]):
        time.sleep(0.001)
    begin, done, end = time.time(), 0, time.time()
    while True:
        n = relay.run_once()
        done += n
        if n:
            end = time.time()
        elif not conn.execute(left).fetchone()[0]:
            break  # the other relays hold what is left, or nothing is
        else:
            time.sleep(0.002)
relay.close()
relay.publisher.close()
relay.store.close()
print(json.dumps({"events": done, "begin": begin, "end": end}))
"""


def throughput_parallel(db: str, bootstrap: str, wallets: list[int], relays: int,
                        events: int = 60_000) -> dict[str, float]:
    """``relays`` relay processes drain one pre-filled outbox together (SKIP LOCKED lanes).

    Each claims 64 / ``relays`` lanes per batch: a relay claiming all 64 would hold every lane
    for its batch and the others would wait, i.e. take turns instead of working side by side.
    """
    fill_outbox(db, wallets, events)
    start_at = time.time() + 8.0  # enough for every child to import and connect
    children = [
        subprocess.Popen([sys.executable, "-c", _DRAIN_TOGETHER, str(REPO), db, bootstrap, str(start_at),
                          str(max(1, 64 // relays))],
                         cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(relays)
    ]
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"a relay child failed with exit code {child.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    moved = sum(int(r["events"]) for r in reports)
    elapsed = max(r["end"] for r in reports) - min(r["begin"] for r in reports)
    return {f"relays_{relays}_events": moved, f"relays_{relays}_seconds": elapsed,
            f"relays_{relays}_events_per_s": moved / elapsed,
            f"relays_{relays}_events_per_child": ",".join(str(r["events"]) for r in reports)}


def export_tree(ref: str) -> Path:
    """``acl/`` as it was at ``ref``, in a temporary folder (git archive only reads the repository)."""
    tree = Path(tempfile.mkdtemp(prefix="acl-ab-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "acl"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def drain(tree: Path, db: str, bootstrap: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _DRAIN, str(tree), db, bootstrap],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def relay_ab(
    db: str, bootstrap: str, wallets: list[int], ref: str, rounds: int, events: int
) -> dict[str, Any]:
    """This checkout's relay against ``ref``'s, interleaved; a round drains ``events`` with each."""
    sides = {"baseline": export_tree(ref), "current": REPO}
    rates: dict[str, list[float]] = {"baseline": [], "current": []}
    cpu: dict[str, list[float]] = {"baseline": [], "current": []}
    try:
        for r in range(rounds):
            for side in ("baseline", "current") if r % 2 == 0 else ("current", "baseline"):
                fill_outbox(db, wallets, events)
                result = drain(sides[side], db, bootstrap)
                if result["events"] != events:
                    raise RuntimeError(f"{side} drained {result['events']} of {events} events")
                rates[side].append(result["events"] / result["seconds"])
                cpu[side].append(result["cpu_seconds"] / result["events"] * 1e6)
    finally:
        shutil.rmtree(sides["baseline"], ignore_errors=True)
    ratios = [c / b for c, b in zip(rates["current"], rates["baseline"], strict=True)]
    cpu_ratios = [c / b for c, b in zip(cpu["current"], cpu["baseline"], strict=True)]
    return {
        "ab_ref": ref,
        "ab_rounds": rounds,
        "ab_events_per_round": events,
        "ab_baseline_events_per_s_median": statistics.median(rates["baseline"]),
        "ab_current_events_per_s_median": statistics.median(rates["current"]),
        "ab_ratio_of_medians": statistics.median(rates["current"]) / statistics.median(rates["baseline"]),
        "ab_round_ratio_min": min(ratios),
        "ab_round_ratio_max": max(ratios),
        "ab_baseline_cpu_us_per_event_median": statistics.median(cpu["baseline"]),
        "ab_current_cpu_us_per_event_median": statistics.median(cpu["current"]),
        "ab_round_cpu_ratio_min": min(cpu_ratios),
        "ab_round_cpu_ratio_max": max(cpu_ratios),
        "ab_rounds_events_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
    }


def paced_writes(db: str, wallets: list[int], rate: int, seconds: float) -> tuple[list[int], float]:
    """Two writer threads sharing ``rate`` credits/s over ``wallets`` for ``seconds``.

    Returns the writes each made and the elapsed time. Used by both relay latency benches so
    they offer the same load.
    """
    writes = [0, 0]

    def writer(slot: int, mine: list[int]) -> None:
        interval = 2.0 / rate  # two writers share the rate
        with psycopg.connect(db, autocommit=True) as conn:
            next_at = time.perf_counter()
            end = next_at + seconds
            i = 0
            while time.perf_counter() < end:
                credit_sql(conn, mine[i % len(mine)])
                writes[slot] += 1
                i += 1
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)

    half = len(wallets) // 2
    threads = [
        threading.Thread(target=writer, args=(0, wallets[:half])),
        threading.Thread(target=writer, args=(1, wallets[half:])),
    ]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return writes, time.perf_counter() - begin


def latency(
    db: str, bootstrap: str, wallets: list[int], rate: int = 1000, seconds: float = 20.0
) -> dict[str, float]:
    relay = LatencyRelay(
        PgOutboxStore(db),
        KafkaPublisher(bootstrap),
        ContractRegistry(load_contracts()),
        batch_size=2000,
        poll_interval=0.05,
    )
    relay.samples = []
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,))
    relay_thread.start()
    writes, write_elapsed = paced_writes(db, wallets, rate, seconds)
    deadline = time.monotonic() + 60
    while len(relay.samples) < sum(writes) and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    relay_thread.join(30)
    relay.publisher.close()
    relay.store.close()
    samples = relay.samples[len(relay.samples) // 20 :]  # drop the first 5% (connection set-up)
    return {
        "offered_writes_per_s": rate,
        "achieved_writes_per_s": sum(writes) / write_elapsed,
        "events_measured": len(samples),
        "commit_to_ack_p50_ms": pct(samples, 0.5) * 1e3,
        "commit_to_ack_p99_ms": pct(samples, 0.99) * 1e3,
        "commit_to_ack_max_ms": max(samples) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts",
        default="capture,throughput,latency",
        help="comma-separated subset of capture,throughput,parallel,latency,breakdown "
        "(default: capture,throughput,latency)",
    )
    parser.add_argument(
        "--ab", metavar="REF", help="also compare relay throughput against git REF, interleaved"
    )
    parser.add_argument("--relays", type=int, default=2,
                        help="relay processes for the 'parallel' part (default 2: one per core)")
    parser.add_argument("--ab-rounds", type=int, default=6)
    parser.add_argument("--ab-events", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "acl.json")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    console = Console()
    pg_port, kafka_port = free_port(), free_port()
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="acl-bench-")) / "data", pg_port)
    pg.start()
    tansu = subprocess.Popen(
        tansu_argv(kafka_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE acl_bench")
        db = pg.url("acl_bench")
        console.print("[dim]migrating a scratch monolith database…[/dim]")
        subprocess.run(
            [sys.executable, "-m", "monolith.manage", "migrate", "-v0"],
            cwd=REPO,
            check=True,
            env={**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": db},
        )
        install(db)
        bootstrap = f"127.0.0.1:{kafka_port}"
        ensure_topics(bootstrap, event_topics(), partitions=6)
        wallets = seed_wallets(db, 200)
        mark_all_handled(db)
        results: dict[str, Any] = {}
        if "capture" in parts:
            console.print("[dim]capture on/off…[/dim]")
            results.update(capture_ratio(db, wallets))
        if "breakdown" in parts:
            console.print("[dim]capture cost, piece by piece…[/dim]")
            results.update(capture_breakdown(db, wallets))
        if "throughput" in parts:
            console.print("[dim]relay throughput…[/dim]")
            results.update(throughput(db, bootstrap, wallets))
        if "parallel" in parts:
            console.print(f"[dim]relay throughput, {args.relays} relay processes together…[/dim]")
            results.update(throughput_parallel(db, bootstrap, wallets, args.relays))
        if args.ab:
            console.print(f"[dim]relay throughput, this checkout against {args.ab}, interleaved…[/dim]")
            results.update(relay_ab(db, bootstrap, wallets, args.ab, args.ab_rounds, args.ab_events))
        if "latency" in parts:
            console.print("[dim]commit-to-Kafka latency at 1,000 writes/s…[/dim]")
            results.update(latency(db, bootstrap, wallets))
    finally:
        tansu.terminate()
        tansu.wait(10)
        pg.stop()
    goals = {
        "commit_to_ack_p99_ms": ("≤ 100", lambda v: v <= 100),
        "relay_events_per_s": ("≥ 10,000", lambda v: v >= 10_000),
        f"relays_{args.relays}_events_per_s": ("≥ 10,000", lambda v: v >= 10_000),
        "write_latency_ratio_p50": ("≤ 1.10", lambda v: v <= 1.10),
    }
    table = Table(title="ACL benchmark (2-core box, embedded PostgreSQL 18, Tansu in memory)")
    for col in ("metric", "value", "goal", "met"):
        table.add_column(col)
    for key, value in results.items():
        goal = goals.get(key)
        table.add_row(
            key,
            f"{value:,.3f}"
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int)
            else str(value),
            goal[0] if goal else "",
            ("yes" if goal[1](value) else "NO") if goal else "",
        )
    console.print(table)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cpus": os.cpu_count(),
                "results": results,
                "goals_met": {k: bool(g[1](results[k])) for k, g in goals.items() if k in results},
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written {out}")


if __name__ == "__main__":
    main()
