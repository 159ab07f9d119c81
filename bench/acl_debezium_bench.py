"""Debezium relay benchmark: commit-to-Kafka latency at ~1,000 writes/s, and time to the first event.

One command: ``/work/venv/bin/python bench/acl_debezium_bench.py`` (needs the ``cdc`` extra; starts its
own embedded PostgreSQL and Tansu on free ports, migrates a scratch monolith database, writes
bench/results/acl_debezium.json). Same load as ``bench/acl_bench.py``'s latency run: two writers
paced at 500 credits/s each over 200 wallets, 20 s. Per event, the time from the transaction's
commit (Debezium's ``source.ts_us``, the commit record's time) to the broker's delivery report.
"""

from __future__ import annotations

import json
import os
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

from strangler.stack.kafka import tansu_argv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from acl_bench import (
    REPO,
    LatencyRelay,
    credit_sql,
    free_port,
    mark_all_handled,
    paced_writes,
    pct,
    seed_wallets,
)

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.contracts import ContractRegistry, load_contracts
from acl.debezium import DebeziumRelay, DebeziumSettings, drop_slot
from acl.install import install
from acl.ops import ensure_topics, event_topics
from strangler.stack.postgres import EmbeddedPostgres


def latency(db: str, bootstrap: str, wallets: list[int], offsets: Path, rate: int = 1000) -> dict[str, Any]:
    contracts = ContractRegistry(load_contracts())
    relay = DebeziumRelay(
        DebeziumSettings(db, offsets), KafkaPublisher(bootstrap), contracts, poll_interval=0.05
    )
    core = LatencyRelay(relay.store, relay.publisher, contracts, batch_size=2048)
    core.samples = []
    relay.core = core
    stop = threading.Event()
    started = time.perf_counter()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    # time to first event: one credit, then wait for its delivery report
    with psycopg.connect(db, autocommit=True) as conn:
        credit_sql(conn, wallets[0])
    while not core.samples and time.perf_counter() - started < 120:
        time.sleep(0.01)
    first_event_s = time.perf_counter() - started
    core.samples.clear()
    writes, write_elapsed = paced_writes(db, wallets, rate, 20.0)
    deadline = time.monotonic() + 60
    while len(core.samples) < sum(writes) and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    thread.join(60)
    relay.publisher.close()
    samples = core.samples[len(core.samples) // 20 :]
    return {
        "first_event_after_start_s": first_event_s,
        "offered_writes_per_s": rate,
        "achieved_writes_per_s": sum(writes) / write_elapsed,
        "events_measured": len(samples),
        "commit_to_ack_p50_ms": pct(samples, 0.5) * 1e3,
        "commit_to_ack_p99_ms": pct(samples, 0.99) * 1e3,
        "commit_to_ack_max_ms": max(samples) * 1e3,
    }


def main() -> None:

    console = Console()
    pg_port, kafka_port = free_port(), free_port()
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="acl-dbz-bench-")) / "data", pg_port)
    pg.start()
    tansu = subprocess.Popen(
        tansu_argv(kafka_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = pg.url("acl_dbz_bench")
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE acl_dbz_bench")
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
        console.print("[dim]Debezium relay: commit-to-Kafka latency at 1,000 writes/s…[/dim]")
        results = latency(db, bootstrap, wallets, Path(tempfile.mkdtemp(prefix="acl-dbz-offsets-")))
        drop_slot(db, "strangler_acl_debezium", "strangler_acl_debezium")
    finally:
        tansu.terminate()
        tansu.wait(10)
        pg.stop()
    for key, value in results.items():
        console.print(f"{key:32} {value:,.3f}" if isinstance(value, float) else f"{key:32} {value:,}")
    out = REPO / "bench" / "results" / "acl_debezium.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "results": results},
            indent=2,
        )
        + "\n"
    )
    console.print(f"written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
    # Everything is written and every server stopped. JPype's JVM teardown at interpreter exit
    # waited on the engine's leftover threads for over 10 minutes here (py-spy: _JTerminate).
    sys.stdout.flush()
    os._exit(0)
