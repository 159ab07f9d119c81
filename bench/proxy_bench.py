"""Benchmark the routing proxy against direct access, nginx and mitmproxy, in one run.

One fast upstream (nginx answering a fixed 200) is measured:
direct, through nginx as a keep-alive reverse proxy, through this proxy in
monolith mode and in canary mode (50 %, random merchant per request), and through
mitmproxy in reverse mode. Each proxy under test is pinned to core 0; wrk and the
upstream share core 1, so "req/s" is the throughput of one proxy core.

Two phases per target: throughput (wrk, 64 connections) and latency (wrk, one
connection, so the numbers are service time, not queueing). Added latency is the
target's latency minus direct latency at the same percentile.

Run: ``/work/venv/bin/python bench/proxy_bench.py [--duration 10]``
Needs: wrk and nginx on PATH (apt-get install -y wrk nginx); mitmdump optional
(``--mitmdump PATH``). Writes bench/results/proxy.json.

"req/CPU-s" is requests served per second of CPU the proxy process (with its threads and
child processes, e.g. nginx's worker) used during the throughput run, from /proc: unlike
req/s it does not drop when other processes take the proxy's core, so "x nginx (CPU)" is
the per-core ratio that holds on a busy machine.

On a shared machine, ``--rounds N`` measures every target N times, interleaved, and keeps
each target's best throughput and lowest latencies (the least disturbed runs).

``--compare-src DIR`` also measures another copy of the proxy's source in the same run
(monolith mode, no access log), e.g. the last commit's:
``mkdir /tmp/base && git archive HEAD routing_proxy | tar -x -C /tmp/base``.

``--shim`` also measures mode extracted with the route as it is and as a compatibility shim
(``upstream_path``: the extracted upstream gets ``/v2/accounts/{id}/transactions``), and, with
``--compare-src``, extracted from that source too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "proxy.json"
PATH = "/api/v1/wallets/1/transactions/"
BODY = '{"status":"ok","transactions":[]}'



def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@contextmanager
def process(cmd: list[str], port: int, core: str, cwd: Path | None = None) -> Iterator[int]:
    proc = subprocess.Popen(["taskset", "-c", core, *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=cwd)
    try:
        wait_port(port)
        yield proc.pid  # taskset execs the command: same pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def nginx_conf(workdir: Path, name: str, port: int, server_block: str, upstream: str = "") -> Path:
    prefix = workdir / name
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    {upstream}
    server {{ listen 127.0.0.1:{port} reuseport; {server_block} }}
}}
""")
    return conf


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid``'s threads and its live descendants."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def parse_wrk(output: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = float(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    latency = {p: ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rps, "requests": total, "p50_ms": latency["50"], "p99_ms": latency["99"],
            "non_2xx": float(errors.group(1)) if errors else 0.0,
            "socket_errors": 1.0 if socket_errors else 0.0}


def wrk(port: int, connections: int, duration: int, script: Path | None) -> dict[str, float]:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(f"http://127.0.0.1:{port}{PATH}")
    output = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def measure(port: int, args: argparse.Namespace, script: Path | None,
            connections: int, pid: int | None = None) -> dict[str, float]:
    wrk(port, connections, 2, script)  # warm-up: connections, pools, caches
    cpu = cpu_seconds(pid) if pid is not None else 0.0
    load = wrk(port, connections, args.duration, script)
    cpu = cpu_seconds(pid) - cpu if pid is not None else 0.0
    single = wrk(port, 1, max(3, args.duration // 2), script)
    return {"rps": load["rps"], "loaded_p50_ms": load["p50_ms"], "loaded_p99_ms": load["p99_ms"],
            "p50_ms": single["p50_ms"], "p99_ms": single["p99_ms"],
            "req_per_cpu_s": load["requests"] / cpu if cpu > 0 else 0.0,
            "non_2xx": load["non_2xx"] + single["non_2xx"]}


def best(kept: dict[str, float] | None, new: dict[str, float]) -> dict[str, float]:
    """The best of two runs of one target: highest throughput, lowest latencies."""
    if kept is None:
        return new
    merged = {key: min(kept[key], new[key]) for key in new}
    merged["rps"] = max(kept["rps"], new["rps"])
    merged["req_per_cpu_s"] = max(kept["req_per_cpu_s"], new["req_per_cpu_s"])
    merged["non_2xx"] = kept["non_2xx"] + new["non_2xx"]  # errors of every round count
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mitmdump", default=shutil.which("mitmdump") or "/tmp/mitm-venv/bin/mitmdump")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every target this many times, keep the best (default 1)")
    parser.add_argument("--compare-src", type=Path,
                        help="a directory holding another routing_proxy package to measure too")
    parser.add_argument("--shim", action="store_true",
                        help="also measure mode extracted with and without a compatibility shim")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get install -y wrk nginx")
    console = Console(width=190)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        work = Path(tmp)
        up_port = free_port()
        upstream = nginx_conf(work, "upstream", up_port,
                              f"location / {{ default_type application/json; return 200 '{BODY}'; }}")
        canary_script = work / "canary.lua"
        canary_script.write_text(
            'request = function()\n'
            f'  return wrk.format("GET", "{PATH}", {{["X-Merchant-ID"] = "m" .. math.random(1, 1000000)}})\n'
            'end\n')
        up_url = f"http://127.0.0.1:{up_port}"
        targets: list[tuple[str, list[str] | None, int, Path | None, int]] = []
        cwd: dict[str, Path] = {}  # targets run from another source tree (python -m finds it first)
        targets.append(("direct", None, up_port, None, args.connections))
        p = free_port()
        nginx_proxy = nginx_conf(
            work, "nginx-proxy", p,
            "location / { proxy_pass http://up; proxy_http_version 1.1; "
            "proxy_set_header Connection \"\"; }",
            f"upstream up {{ server 127.0.0.1:{up_port}; keepalive 64; }}")
        targets.append(("nginx", ["nginx", "-c", str(nginx_proxy), "-p", str(work)], p, None,
                        args.connections))
        route = '"GET /api/v1/wallets/{id}/transactions/"'
        variants = [("monolith", "monolith", "", route),
                    ("canary", "canary", 'percent = "50"\n'
                     'sticky_key = { kind = "merchant_id", header = "X-Merchant-ID" }\n', route)]
        if args.shim:  # the same rule with and without a compatibility shim (routing_proxy.rewrite)
            variants += [("extracted", "extracted", "", route),
                         ("extracted shim", "extracted", "", f'{{ route = {route}, '
                          'upstream_path = "/v2/accounts/{id}/transactions" }')]
        for label, mode, extra, entry in variants:
            routes = work / f"routes-{label.replace(' ', '-')}.toml"
            routes.write_text(f'version = 1\n[capabilities."ledger.history"]\nmode = "{mode}"\n'
                              f'{extra}routes = [{entry}]\n')
            for log_label, log_flag in (("", ["--no-access-log"]), (" +access log", [])):
                if log_label and label != "monolith":
                    continue
                p = free_port()
                cmd = [sys.executable, "-m", "routing_proxy", str(routes), "--port", str(p),
                       "--monolith-url", up_url, "--extracted-url", up_url, *log_flag]
                targets.append((f"strangler {label}{log_label}", cmd, p,
                                canary_script if mode == "canary" else None, args.connections))
                if args.compare_src is not None and label in ("monolith", "extracted"):
                    p = free_port()
                    name = f"strangler {label}{log_label} ({args.compare_src.name})"
                    cwd[name] = args.compare_src.resolve()
                    targets.append((name, [*cmd[:4], "--port", str(p), *cmd[6:]], p, None,
                                    args.connections))
        if Path(args.mitmdump).exists():
            p = free_port()
            targets.append(("mitmproxy reverse", [args.mitmdump, "-q", "--mode",
                                                  f"reverse:{up_url}", "--listen-host",
                                                  "127.0.0.1", "-p", str(p)], p, None, 16))
        with process(["nginx", "-c", str(upstream), "-p", str(work)], up_port, "1"):
            for round_ in range(1, args.rounds + 1):
                for name, command, port, script, connections in targets:
                    console.print(f"measuring [bold]{name}[/] (round {round_}/{args.rounds}) ...")
                    if command is None:
                        result = measure(port, args, script, connections)
                    else:
                        with process(command, port, "0", cwd.get(name)) as pid:
                            result = measure(port, args, script, connections, pid)
                    results[name] = best(results.get(name), result)
    report(console, results)


def report(console: Console, results: dict[str, dict[str, float]]) -> None:
    direct, nginx = results["direct"], results["nginx"]
    table = Table(title="Reverse proxies on one core (upstream: nginx fixed 200; wrk on core 1)")
    for column in ("target", "req/s (1 core)", "x nginx", "req/CPU-s", "x nginx (CPU)", "p50 ms",
                   "p99 ms", "added p50 ms", "added p99 ms", "loaded p99 ms", "non-2xx"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for name, r in results.items():
        r["ratio_vs_nginx"] = r["rps"] / nginx["rps"]
        r["cpu_ratio_vs_nginx"] = (r["req_per_cpu_s"] / nginx["req_per_cpu_s"]
                                   if r["req_per_cpu_s"] and nginx["req_per_cpu_s"] else 0.0)
        r["added_p50_ms"] = r["p50_ms"] - direct["p50_ms"]
        r["added_p99_ms"] = r["p99_ms"] - direct["p99_ms"]
        cpu = (f"{r['req_per_cpu_s']:,.0f}", f"{r['cpu_ratio_vs_nginx']:.2f}") if r["req_per_cpu_s"] \
            else ("-", "-")
        table.add_row(name, f"{r['rps']:,.0f}", f"{r['ratio_vs_nginx']:.2f}", *cpu,
                      f"{r['p50_ms']:.3f}",
                      f"{r['p99_ms']:.3f}", f"{r['added_p50_ms']:+.3f}", f"{r['added_p99_ms']:+.3f}",
                      f"{r['loaded_p99_ms']:.2f}", f"{r['non_2xx']:.0f}")
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine_cores": 2, "path": PATH, "results": results},
                                  indent=2))
    console.print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
