"""Flip propagation: time from a flip's commit until every proxy instance acks its version.

    python bench/flip_bench.py --instances 4 --flips 50

Starts N real proxy processes following the control plane (LISTEN/NOTIFY), makes M flips
through the service layer, and for each one measures from the moment ``flip()`` returns
(its transaction committed) until every instance's heartbeat row shows the new version.
Then the same with the instances polling only (``--no-listen``), as the baseline. Uses a
fresh control database on the configured (or embedded) PostgreSQL and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import psycopg
from rich.console import Console
from rich.table import Table

from legacy_client.stats import percentile
from strangler.config import get_settings

console = Console()


def acked(conn: psycopg.Connection, version: int, instances: int) -> bool:
    row = conn.execute("SELECT count(*) FROM strangler_proxy_instance WHERE version >= %s",
                       (version,)).fetchone()
    return row is not None and int(row[0]) >= instances


def run_round(url: str, instances: int, flips: int, listen: bool, poll: float) -> list[float]:
    from strangler.control.routing import services

    argv = [sys.executable, "-m", "routing_proxy", "--control-database-url", url, "--port", "0",
            "--monolith-url", "http://127.0.0.1:9", "--extracted-url", "http://127.0.0.1:9",
            "--no-access-log", "--poll-interval", str(poll)] + ([] if listen else ["--no-listen"])
    children = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(instances)]
    timings: list[float] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM strangler_proxy_instance")
            deadline = time.monotonic() + 30
            while not acked(conn, services.current_version(), instances):
                if time.monotonic() > deadline:
                    raise SystemExit("proxy instances did not come up within 30 s")
                time.sleep(0.01)
            for n in range(flips):
                mode = "shadow" if n % 2 == 0 else "monolith"
                version = services.flip("bench", mode, reason="flip bench", actor="bench").version
                committed = time.perf_counter()
                deadline = time.monotonic() + 30
                while not acked(conn, version, instances):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"version {version} not applied by all instances in 30 s")
                    time.sleep(0.001)
                timings.append(time.perf_counter() - committed)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--flips", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="fallback polling period, s")
    args = parser.parse_args()

    settings = get_settings()
    server = None
    if settings.embedded_postgres:
        from strangler.stack.postgres import EmbeddedPostgres

        server = EmbeddedPostgres(settings.home / "postgres" / "data", settings.pg_port)
        if server.running():
            server = None
        else:
            server.start()
    admin_url = urlsplit(settings.control_database_url)._replace(path="/postgres").geturl()
    name = f"flipbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(settings.control_database_url)._replace(path=f"/{name}").geturl()
    os.environ["STRANGLER_CONTROL_DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "strangler.control.settings"
    try:
        from strangler.config import reset_settings_cache

        reset_settings_cache()
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from strangler.control.routing import services
        from strangler.control.routing.urlconf import LegacyRoute

        services.import_urlconf([LegacyRoute("GET", "/api/v1/bench/{id}/")], actor="bench",
                                reason="flip bench", prefix="/api/v1/")
        results = {
            "LISTEN/NOTIFY": run_round(url, args.instances, args.flips, True, args.poll_interval),
            f"polling only ({args.poll_interval:g} s)": run_round(url, args.instances, args.flips, False,
                                                                  args.poll_interval),
        }
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()
    table = Table("propagation", "flips", "p50 ms", "p99 ms", "max ms",
                  title=f"flip commit → all {args.instances} instances acked")
    for label, timings in results.items():
        ordered = sorted(t * 1000 for t in timings)
        table.add_row(label, str(len(ordered)), f"{percentile(ordered, 50):.1f}",
                      f"{percentile(ordered, 99):.1f}", f"{ordered[-1]:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
