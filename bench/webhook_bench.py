"""Webhook delivery benchmark: deliveries/s through the whole service vs. a plain signed-POST loop.

One command: ``python bench/webhook_bench.py [--events 3000] [--concurrency 2] [--no-flag]``.
Starts its own embedded PostgreSQL, Tansu, Redis (Celery broker; the filesystem transport if
no ``redis-server``), a local asyncio receiver (separate process), the service's consumer
and a REAL Celery worker; prints a rich table and writes bench/results/webhooks.json.

- baseline: one loop of signed POSTs with the service's own ``delivery.Sender`` to the same
  receiver: what the HTTP work alone costs on this box (and the same loop with httpx, the
  sender's client before, to compare with earlier runs).
- service: N ``wallet.credited`` events published to Kafka, each fanned out to one subscribed
  endpoint; deliveries/s from the first publish to the N-th request the receiver counts
  (consumer inbox + delivery rows + Celery + claim/send/record per delivery). This is the
  number held against the goal.
- delivery stage: N pending rows inserted in SQL and enqueued in batches as the consumer
  does; Celery + worker (claim, signed send, record) alone.
The ratios baseline/service show the service's overhead per delivery.

By default the worker obeys the capability flag ``webhooks.delivery`` (declared in a control
plane database the bench creates and forced to ``extracted``), so each batch also records
its per-occurrence decisions there, as it does while the monolith is being strangled;
``--no-flag`` measures a greenfield deployment with no flag.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from strangler.stack.kafka import tansu_argv
from strangler.stack.net import free_port, port_is_open

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from extracted.webhooks import signing  # noqa: E402
from extracted.webhooks.decisions import PgDecisions  # noqa: E402
from extracted.webhooks.delivery import Limits, Sender  # noqa: E402
from extracted.webhooks.ssrf import parse_allowlist  # noqa: E402
from strangler.stack.postgres import EmbeddedPostgres  # noqa: E402

GOAL = 500.0



def wait_until(condition: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


# ---- the receiver: minimal keep-alive HTTP/1.1 over asyncio, in its own process -----------
def run_receiver(port: int) -> None:
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /count"):
                    body = str(count).encode()
                else:
                    count += 1
                    body = b"ok"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def received(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as r:
        return int(r.read())


# ---- measurements -------------------------------------------------------------------------
def baseline(url: str, n: int) -> dict[str, float]:
    """Signed POSTs in a plain loop: with the service's own sender, and with httpx (its client
    before; the baseline of earlier runs)."""
    body = b'{"id":"e","type":"wallet.credited","data":{"wallet_id":"1","amount":"1.00"}}'
    sender = Sender(Limits(), parse_allowlist("127.0.0.0/8"))
    t0 = time.perf_counter()
    for _ in range(n):
        outcome = sender.send(url, "whsec_bench", body, {}, int(time.time()))
        if outcome.result.response_code != 200:
            raise RuntimeError(f"baseline POST failed: {outcome.result}")
    seconds = time.perf_counter() - t0
    sender.close()
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        t1 = time.perf_counter()
        for _ in range(n):
            header = signing.sign("whsec_bench", int(time.time()), body)
            client.post(url, content=body, headers={signing.SIGNATURE_HEADER: header,
                                                     "Content-Type": "application/json"}).raise_for_status()
        httpx_seconds = time.perf_counter() - t1
    return {"baseline_posts": n, "baseline_seconds": seconds, "baseline_posts_per_s": n / seconds,
            "baseline_httpx_posts_per_s": n / httpx_seconds}


def service(env: dict[str, str], db: str, bootstrap: str, receiver_port: int, n: int, concurrency: int,
            logs: Path) -> dict[str, float]:
    from tests.extracted.ledger_query.events import message, publish

    key, merchant, wallets = "ps_test_bench", 1, list(range(1000, 1016))
    publish(bootstrap, [message("paystream.merchant.api_key_issued.v1", "merchant", "1", {
        "key_id": "1", "merchant_id": "1", "issued_at": "2026-01-01T00:00:00Z",
        "key_hash": hashlib.sha256(key.encode()).hexdigest()})] + [
        message("paystream.wallet.opened.v1", "wallet", str(w), {
            "wallet_id": str(w), "customer_id": "1", "merchant_id": str(merchant), "currency": "INR",
            "status": "active", "opened_at": "2026-01-01T00:00:00Z"}) for w in wallets])
    procs = [
        subprocess.Popen([sys.executable, "-m", "extracted.webhooks.consume", "--bootstrap-servers",
                          bootstrap, "--log-format", "console"], cwd=REPO,
                         env={**env, "STRANGLER_LOG_LEVEL": "WARNING"},
                         stdout=(logs / "consumer.log").open("wb"), stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "extracted.webhooks.celery_app", "worker",
                          "-Q", "webhooks", "--pool=prefork", f"--concurrency={concurrency}",
                          "--loglevel=WARNING",
                          "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench@%h"],
                         cwd=REPO, env={**env, "STRANGLER_LOG_LEVEL": "WARNING"},
                         stdout=(logs / "worker.log").open("wb"), stderr=subprocess.STDOUT),
    ]
    try:
        def count(sql: str) -> int:
            with psycopg.connect(db) as conn:
                row = conn.execute(sql).fetchone()
                return int(row[0]) if row else 0

        wait_until(lambda: count("SELECT count(*) FROM webhooks_owner") == len(wallets), 120, "the consumer")
        with psycopg.connect(db) as conn:
            conn.execute("INSERT INTO webhooks_endpoint (merchant_id, url, secret, events, description,"
                         " is_active, created_at, updated_at) VALUES (%s, %s, 'whsec_bench', '[\"*\"]', '',"
                         " true, now(), now())", (merchant, f"http://127.0.0.1:{receiver_port}/hook"))
        # warm-up: one delivery end to end, so worker start-up is not measured
        if env.get("STRANGLER_WEBHOOKS_CAPABILITY") != "none":
            # what the monolith records inside each credit's transaction, before its commit:
            # this service obeys it (an announced credit with no decision is the monolith's)
            PgDecisions(env["STRANGLER_CONTROL_DATABASE_URL"]).record(
                "webhooks.delivery", {f"ledger:{i}": "extracted" for i in range(n + 1)}, by="bench")
        before = received(receiver_port)
        publish(bootstrap, [_credit(wallets[0], 0)])
        wait_until(lambda: received(receiver_port) == before + 1, 120, "the warm-up delivery")
        events = [_credit(wallets[i % len(wallets)], i + 1) for i in range(n)]
        t0 = time.perf_counter()
        publish(bootstrap, events)
        published = time.perf_counter() - t0
        created_at: float | None = None
        target = before + 1 + n
        deadline = time.monotonic() + 600
        while received(receiver_port) < target:
            if created_at is None and count("SELECT count(*) FROM webhooks_delivery") >= n + 1:
                created_at = time.perf_counter() - t0
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {received(receiver_port) - before - 1}/{n} delivered in 600 s")
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        delivered = count("SELECT count(*) FROM webhooks_delivery WHERE status = 'delivered'")
        results = {"service_deliveries": n, "service_seconds": seconds,
                   "service_deliveries_per_s": n / seconds,
                   "publish_seconds": published, "rows_created_seconds": created_at or seconds,
                   "consumer_events_per_s": n / (created_at or seconds),
                   "rows_delivered_status": delivered - 1, "worker_concurrency": concurrency}
        results.update(delivery_stage(env, db, receiver_port, n))
        return results
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def delivery_stage(env: dict[str, str], db: str, receiver_port: int, n: int) -> dict[str, float]:
    """Celery + worker alone: N pending rows inserted in SQL, enqueued in batches as the consumer does."""
    from extracted.webhooks.consume import celery_enqueue

    with psycopg.connect(db) as conn:
        ids = [int(r[0]) for r in conn.execute(
            "INSERT INTO webhooks_delivery (event_id, endpoint_id, merchant_id, event_name, payload, status,"
            " attempts, max_attempts, next_attempt_at, last_error, created_at)"
            " SELECT 'stage-' || g, e.id, e.merchant_id, 'wallet.credited', '{\"id\":\"x\"}', 'pending',"
            " 0, 8, now(), '', now() FROM webhooks_endpoint e, generate_series(1, %s) g RETURNING id",
            (n,)).fetchall()]
    broker = env.get("STRANGLER_REDIS_URL") or "filesystem://"
    enqueue = celery_enqueue(broker, Path(env["STRANGLER_HOME"]) / "celery" / "webhooks")
    before = received(receiver_port)
    t0 = time.perf_counter()
    enqueue(ids)
    wait_until(lambda: received(receiver_port) >= before + n, 600, "the delivery stage", every=0.02)
    seconds = time.perf_counter() - t0
    return {"delivery_stage_deliveries": n, "delivery_stage_seconds": seconds,
            "delivery_stage_per_s": n / seconds}


def _credit(wallet: int, entry: int) -> Any:
    from tests.extracted.ledger_query.events import message

    return message("paystream.wallet.credited.v1", "wallet", str(wallet), {
        "wallet_id": str(wallet), "entry_id": str(entry), "kind": "credit",
        "amount": {"amount": "1.00", "currency": "INR"},
        "balance_after": {"amount": "1.00", "currency": "INR"},
        "reference": None, "description": None, "counterparty_wallet_id": None,
        "posted_at": "2026-01-01T00:00:01Z"})


def declare_and_force_extracted(env: dict[str, str]) -> None:
    """The control plane's own CLI: migrate, declare the capability, force it to extracted."""
    cli = [sys.executable, "-c", "import sys; from strangler.cli import main; sys.exit(main())"]
    for argv in (["routes", "declare", "webhooks.delivery", "--reason", "bench", "--wait", "0"],
                 ["routes", "flip", "webhooks.delivery", "extracted", "--force", "--reason", "bench",
                  "--wait", "0"]):
        subprocess.run(cli + argv, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def stages(results: dict[str, Any]) -> list[tuple[str, float]]:
    """Deliveries (or events) per second of each stage, slowest last; the baseline first."""
    n = results["service_deliveries"]
    return [
        ("baseline: signed POST loop, the service's sender", results["baseline_posts_per_s"]),
        ("signed POST loop with httpx (the earlier baseline)", results["baseline_httpx_posts_per_s"]),
        ("consumer: events -> delivery rows", results["consumer_events_per_s"]),
        ("sending stage alone: Celery + worker", results["delivery_stage_per_s"]),
        ("end to end: Kafka -> consumer -> Celery -> receiver", n / results["service_seconds"]),
    ]


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # internal: run the receiver
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery prefork processes")
    parser.add_argument("--no-flag", action="store_true",
                        help="no capability flag: the service delivers without asking who delivers")
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    pg_port, kafka_port, redis_port, receiver_port = (free_port() for _ in range(4))
    pg = EmbeddedPostgres(tmp / "data", pg_port)
    pg.start()
    children = [
        subprocess.Popen(tansu_argv(kafka_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, __file__, "--receiver", str(receiver_port)]),
    ]
    redis = shutil.which("redis-server")
    if redis:
        children.append(subprocess.Popen(
            [redis, "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE webhooks")
        db = pg.url("webhooks")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update({"STRANGLER_WEBHOOKS_DATABASE_URL": db, "STRANGLER_HOME": str(tmp / "home"),
                    "STRANGLER_PG_PORT": str(pg_port), "STRANGLER_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
                    "STRANGLER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}"})
        if redis:
            env["STRANGLER_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        if args.no_flag:
            env["STRANGLER_WEBHOOKS_CAPABILITY"] = "none"
        else:
            env["STRANGLER_CONTROL_DATABASE_URL"] = pg.url("strangler_control")
            env["STRANGLER_WEBHOOKS_CAPABILITY"] = "webhooks.delivery"
            console.print("[dim]control plane: declaring webhooks.delivery, forced to extracted…[/dim]")
            declare_and_force_extracted(env)
        console.print("[dim]migrating the webhooks database…[/dim]")
        subprocess.run([sys.executable, "-m", "extracted.webhooks.manage", "migrate", "-v0"], cwd=REPO,
                       env=env, check=True)
        wait_until(lambda: port_is_open(receiver_port) and port_is_open(kafka_port), 30, "receiver and Tansu")
        url = f"http://127.0.0.1:{receiver_port}/hook"
        console.print("[dim]baseline: plain signed-POST loop…[/dim]")
        results: dict[str, Any] = baseline(url, args.events)
        console.print(f"[dim]service: {args.events} events through Kafka, consumer, Celery…[/dim]")
        results.update(service(env, db, f"127.0.0.1:{kafka_port}", receiver_port, args.events,
                               args.concurrency, tmp))
        results["overhead_ratio"] = results["baseline_posts_per_s"] / results["service_deliveries_per_s"]
        results["overhead_ratio_delivery_stage"] = (results["baseline_posts_per_s"]
                                                    / results["delivery_stage_per_s"])
        results["celery_broker"] = "redis" if redis else "filesystem"
        results["capability_flag"] = "off" if args.no_flag else "webhooks.delivery (extracted)"
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        pg.stop()
    met = results["service_deliveries_per_s"] >= GOAL
    table = Table(title=f"Webhook delivery benchmark ({os.cpu_count()} cores, local receiver)")
    for col in ("metric", "value", "goal", "met"):
        table.add_column(col)
    for name, value in results.items():
        goal = name == "service_deliveries_per_s"
        table.add_row(name, f"{value:,.3f}" if isinstance(value, float) else str(value),
                      f"≥ {GOAL:,.0f}" if goal else "", ("yes" if met else "NO") if goal else "")
    console.print(table)
    stage_table = Table(title="stages (same run): per second and ratio to the baseline")
    for col in ("stage", "per second", "÷ baseline"):
        stage_table.add_column(col)
    rows = stages(results)
    for name, rate in rows:
        stage_table.add_row(name, f"{rate:,.0f}", f"{rate / rows[0][1]:.2f}")
    console.print(stage_table)
    out = REPO / "bench" / "results" / "webhooks.json"
    out.write_text(json.dumps({"measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                               "results": results, "goals_met": {"service_deliveries_per_s": met}},
                              indent=2) + "\n")
    console.print(f"written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
