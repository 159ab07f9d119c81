"""The monolith's write latency with the ACL's capture on versus off, over HTTP, in one run.

    python bench/acl_write_bench.py [--rounds 8] [--per-round 300] [--transactions 20000]

Issue 3 asks for "write latency of the monolith with capture on versus off" (goal ≤ 1.10).
``bench/acl_bench.py`` measures the strictest form of that: the SQL of one credit alone,
where the triggers' cost has nothing to hide behind. This bench measures what a client of the
monolith sees: ``POST /api/v1/wallets/{id}/credit/`` through gunicorn, Django, DRF,
authentication and the Idempotency-Key handling, against the same embedded PostgreSQL, one
keep-alive client sending one credit at a time.

Capture is switched with ``acl.install.install``/``uninstall`` (the triggers; the outbox
stays), in alternating rounds (off-on, then on-off) so drift on a shared machine hits both
sides alike. It reports the median and p95 of each side, the ratio of medians and the spread
of the per-round ratios. The relay does not run, so the outbox only grows: the cost measured
is the capture in the write's own transaction, which is what the client waits for.

Starts its own embedded PostgreSQL and monolith on free ports under a temporary
STRANGLER_HOME, prints a table and writes bench/results/acl_write.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def writable_wallets(client: httpx.Client, key: str) -> list[int]:
    response = client.get("/api/v1/wallets/?page_size=100", headers={"Authorization": f"Api-Key {key}"})
    response.raise_for_status()
    return [w["id"] for w in response.json()["results"] if w["status"] == 1 and not w["limits_locked"]]


def credits(client: httpx.Client, key: str, wallets: list[int], n: int) -> list[float]:
    headers = {"Authorization": f"Api-Key {key}"}
    out = []
    for i in range(n):
        wallet = wallets[i % len(wallets)]
        begin = time.perf_counter()
        response = client.post(f"/api/v1/wallets/{wallet}/credit/", json={"amount": "1.00"},
                               headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        out.append(time.perf_counter() - begin)
        if response.status_code != 201:
            raise RuntimeError(f"credit answered {response.status_code}: {response.text[:200]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="rounds per side, alternating order")
    parser.add_argument("--per-round", type=int, default=300, help="credits per side per round")
    parser.add_argument("--transactions", type=int, default=20_000, help="seeded history")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "acl_write.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="strangler-acl-write-"))
    os.environ.update({
        "STRANGLER_HOME": str(home), "STRANGLER_PG_PORT": str(free_port()),
        "STRANGLER_MONOLITH_PORT": str(free_port()), "STRANGLER_LOG_LEVEL": "WARNING",
    })
    from acl.install import install, uninstall
    from strangler.cli.seed_cmd import run_seed
    from strangler.config import get_settings
    from strangler.stack.stack import Stack

    console = Console(width=160)
    settings = get_settings()
    db = settings.monolith_database_url
    stack = Stack(settings, say=lambda line: console.print(line, highlight=False))
    sides: dict[str, list[float]] = {"off": [], "on": []}
    round_ratios: list[float] = []
    try:
        stack.start(with_kafka=False, with_worker=False)
        seeded = run_seed(args.transactions, 10, 42, reset=True)
        key = seeded.api_keys[0]
        with httpx.Client(base_url=settings.monolith_url, timeout=30) as client:
            wallets = writable_wallets(client, key)
            if not wallets:
                raise SystemExit("the first seeded merchant has no writable wallet; "
                                 "try another --transactions")
            credits(client, key, wallets, 200)  # warm: connections, plans, caches
            for r in range(args.rounds):
                medians = {}
                for side in ("off", "on") if r % 2 == 0 else ("on", "off"):
                    (install if side == "on" else uninstall)(db)
                    samples = credits(client, key, wallets, args.per_round)
                    sides[side].extend(samples)
                    medians[side] = statistics.median(samples)
                round_ratios.append(medians["on"] / medians["off"])
                console.print(f"[dim]round {r + 1}/{args.rounds}: on/off p50 {round_ratios[-1]:.3f}[/dim]")
        install(db)
    finally:
        stack.stop()

    off, on = sides["off"], sides["on"]
    result = {
        "command": " ".join(["python bench/acl_write_bench.py", *sys.argv[1:]]),
        "credits_per_side": len(on),
        "p50_ms_off": statistics.median(off) * 1e3, "p50_ms_on": statistics.median(on) * 1e3,
        "p95_ms_off": pct(off, 0.95) * 1e3, "p95_ms_on": pct(on, 0.95) * 1e3,
        "ratio_p50": statistics.median(on) / statistics.median(off),
        "ratio_p95": pct(on, 0.95) / pct(off, 0.95),
        "round_ratio_min": min(round_ratios), "round_ratio_max": max(round_ratios),
        "round_ratio_median": statistics.median(round_ratios),
        "cpu_count": os.cpu_count(),
    }
    table = Table(title="monolith POST credit over HTTP, ACL capture off vs on (one keep-alive client)")
    for column in ("measure", "capture off", "capture on", "on ÷ off", "goal"):
        table.add_column(column, justify="right")
    verdict = "met" if statistics.median(on) / statistics.median(off) <= 1.10 else "NOT met"
    table.add_row("p50 ms", f"{result['p50_ms_off']:.3f}", f"{result['p50_ms_on']:.3f}",
                  f"{result['ratio_p50']:.3f}", f"≤ 1.10 {verdict}")
    table.add_row("p95 ms", f"{result['p95_ms_off']:.3f}", f"{result['p95_ms_on']:.3f}",
                  f"{result['ratio_p95']:.3f}", "")
    table.add_row("per-round p50 ratios", "", "",
                  f"{result['round_ratio_min']:.3f}..{result['round_ratio_max']:.3f}", "")
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
