"""Benchmark the routing decision per request, in process: a rule without a shim and with one.

Times ``Router.route`` (match, decide, traffic count and, for a compatibility shim, the
rewritten target) for one rule in mode monolith, extracted, and extracted with an
``upstream_path``. ``--compare-src DIR`` times another copy of the proxy's source in the
same run (each round runs both, interleaved, in fresh processes pinned to core 0), e.g. the
last commit's: ``mkdir /tmp/base && git archive HEAD routing_proxy | tar -x -C /tmp/base``.
Each case keeps its lowest time over ``--rounds`` (the least disturbed run on a busy machine).

Run: ``python bench/route_bench.py [--rounds 6] [--compare-src DIR]``. Writes bench/results/route.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "route.json"
LEGACY = "/api/v1/wallets/{id}/transactions/"

# Run in a child process, so a source tree given by PYTHONPATH is the one imported.
CHILD = f"""
import json, timeit
from routing_proxy.dataplane.http import RequestHead
from routing_proxy.dataplane.routing import Router
from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable

target = b"/api/v1/wallets/12345/transactions/"
head = RequestHead("GET", target, target.decode(), "", "1.1", [(b"host", b"x")], {{"host": "x"}},
                   True, False, None, "127.0.0.1")
cases = {{"monolith": (Mode.MONOLITH, {{}}), "extracted": (Mode.EXTRACTED, {{}}),
          "extracted shim": (Mode.EXTRACTED, {{"upstream_path": "/v2/accounts/{{id}}/transactions"}})}}
out = {{}}
for name, (mode, shim) in cases.items():
    try:
        rule = RouteRule("GET", "{LEGACY}", **shim)
    except TypeError:  # a source without shims
        continue
    router = Router(RouteTable(1, (Capability("c", (rule,), mode),)))
    number = 20_000  # many short runs: the shortest is the one no other process disturbed
    out[name] = min(timeit.repeat(lambda: router.route(head), number=number, repeat=25)) / number * 1e6
print(json.dumps(out))
"""


def measure(src: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    output = subprocess.run([*pin, sys.executable, "-c", CHILD], env=env, cwd="/", check=True,
                            capture_output=True, text=True).stdout
    return {k: float(v) for k, v in json.loads(output).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="interleaved runs; the lowest time is kept")
    parser.add_argument("--compare-src", type=Path, help="a directory holding another routing_proxy package")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"this tree": ROOT}
    if args.compare_src is not None:
        trees[args.compare_src.name] = args.compare_src
    best: dict[str, dict[str, float]] = {label: {} for label in trees}
    for _ in range(max(1, args.rounds)):
        for label, src in trees.items():
            for case, us in measure(src).items():
                best[label][case] = min(us, best[label].get(case, us))
    mine = best["this tree"]
    other = best[args.compare_src.name] if args.compare_src is not None else {}
    table = Table(title="Router.route per request, one rule (µs, lowest of the rounds, core 0)")
    columns = ["case", "this tree µs", "x this tree's extracted"]
    if args.compare_src is not None:
        columns += [f"{args.compare_src.name} µs", f"x {args.compare_src.name}"]
    for column in columns:
        table.add_column(column, justify="left" if column == "case" else "right")
    for case, us in mine.items():
        row = [case, f"{us:.3f}", f"{us / mine['extracted']:.2f}"]
        if args.compare_src is not None:
            row += [f"{other[case]:.3f}", f"{us / other[case]:.2f}"] if case in other else ["-", "-"]
        table.add_row(*row)
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rounds": args.rounds, "results_us": best}, indent=2))
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
