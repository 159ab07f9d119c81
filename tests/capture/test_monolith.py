"""Capture real PayStream traffic (the monolith under gunicorn), then replay the flow file in CI fashion.

Two gunicorns on one seeded database: the primary, and a second one standing in for an
extracted candidate. A third, broken candidate answers every request with the wrong body.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from routing_proxy.capture.runtime import Runtime
from strangler.stack.net import free_port
from tests.capture.helpers import capture_env, headers_of, read_flows, start_capture, upstream


@dataclass
class Monoliths:
    primary: str
    candidate: str
    api_key: str


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def monoliths(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monoliths]:
    from monolith.seed import seed

    home = tmp_path_factory.mktemp("capture-monolith")
    name = f"capmono_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    env = {**capture_env(home), "STRANGLER_MONOLITH_DATABASE_URL": database,
           "DJANGO_SETTINGS_MODULE": "monolith.settings"}
    children: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"], env=env,
                       check=True, timeout=300)
        report = seed(database, transactions=200, merchants=1)
        urls = []
        for role in ("primary", "candidate"):
            port = free_port()
            log = (home / f"{role}.log").open("ab")
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "monolith.wsgi:application", "--bind", f"127.0.0.1:{port}",
                 "--workers", "1", "--threads", "4", "--worker-class", "gthread"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        while not all(_ready(u) for u in urls):
            assert time.monotonic() < deadline, "the monolith gunicorns did not become ready"
            assert all(c.poll() is None for c in children), "a monolith gunicorn died; see its log"
            time.sleep(0.2)
        yield Monoliths(urls[0], urls[1], report.api_keys[0])
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def replay(home: Path, flows: Path, primary: str, candidate: str, *extra: str
           ) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    report = home / f"report-{uuid.uuid4().hex[:6]}.json"
    done = subprocess.run(
        [sys.executable, "-m", "strangler", "shadow", "replay", str(flows), "--capability", "merchant",
         "--primary", primary, "--candidate", candidate, "--format", "json", "-o", str(report), *extra],
        capture_output=True, text=True, env=capture_env(home), timeout=300)
    return done, (json.loads(report.read_text()) if report.exists() else {})


def test_capture_the_monolith_then_replay_the_flows_against_primary_and_candidate(
        monoliths: Monoliths, tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "paystream.flow"
    auth = {"Authorization": f"Api-Key {monoliths.api_key}"}
    running = start_capture(tmp_path / "home", monoliths.primary, out, "--max-flows", "5")
    with httpx.Client(base_url=running.url, timeout=60) as client:
        health = client.get("/healthz")
        merchant = client.get("/api/v1/merchant/", headers=auth)
        wallets = client.get("/api/v1/wallets/", headers=auth)
        account = client.post("/api/v1/bank-accounts/", headers=auth, json={
            "account_number": "998877665544", "ifsc": "HDFC0001234", "holder_name": "Asha Rao"})
        anonymous = client.get("/api/v1/merchant/")
    assert running.wait() == 0, running.stderr
    assert "captured 5 flows" in running.stderr and "--max-flows reached" in running.stderr
    # through the capture the client got the monolith's real answers
    assert (health.status_code, merchant.status_code, wallets.status_code) == (200, 200, 200)
    assert account.status_code == 201, account.text
    assert account.json()["account_number_masked"].endswith("5544")
    assert wallets.json()["count"] >= 1
    assert wallets.json()["next"] is None or wallets.json()["next"].startswith(running.url)  # Host kept
    assert anonymous.status_code == 401

    raw = out.read_bytes()
    assert monoliths.api_key.encode() not in raw and b"998877665544" not in raw
    read = read_flows(mitm, out)
    assert read["error"] is None
    flows = read["flows"]
    assert [(f["method"], f["path"], f["status"]) for f in flows] == [
        ("GET", "/healthz", 200), ("GET", "/api/v1/merchant/", 200), ("GET", "/api/v1/wallets/", 200),
        ("POST", "/api/v1/bank-accounts/", 201), ("GET", "/api/v1/merchant/", 401)]
    assert headers_of(flows[1])["authorization"] == "Api-Key [redacted]"
    assert json.loads(flows[3]["body"])["account_number"] == "[redacted]"

    # replay: the write is not sent (no --include-writes), the four reads are compared
    done, report = replay(tmp_path, out, monoliths.primary, monoliths.candidate, "--fail-under", "99")
    assert done.returncode == 0, done.stderr
    assert "replayed 4 of 5 recorded exchanges" in done.stderr
    assert "carry values that strangler capture redacted" in done.stderr
    assert report["total"] == 4 and report["matched"] == 4, report

    # a candidate that answers everything wrongly fails the gate
    with upstream(lambda seen: {"wrong": True}) as broken:
        done, report = replay(tmp_path, out, monoliths.primary, broken.url, "--fail-under", "99")
        assert done.returncode == 1, done.stderr
        assert report["total"] == 4 and report["matched"] == 0, report
        assert {r["method"] for r in broken.received} == {"GET"}  # the write never reached it
        assert "Api-Key [redacted]" in {r["headers"].get("Authorization") for r in broken.received}
        broken.received.clear()
        # the operator gives the real key back: the replay sends it where the capture redacted it
        done, _ = replay(tmp_path, out, monoliths.primary, broken.url, "--set-header",
                         f"Authorization: Api-Key {monoliths.api_key}")
        assert f"Api-Key {monoliths.api_key}" in {r["headers"].get("Authorization") for r in broken.received}

    # a primary that is down: a clear error, exit non-zero
    dead = f"http://127.0.0.1:{free_port()}"
    done, _ = replay(tmp_path, out, dead, monoliths.candidate)
    assert done.returncode == 1 and f"the primary {dead} did not answer" in " ".join(done.stderr.split())


def test_the_capture_stays_out_of_the_way_of_many_requests(
        monoliths: Monoliths, tmp_path: Path, mitm: Runtime) -> None:
    """Every request made through the capture is recorded once, even concurrent ones."""
    out = tmp_path / "many.flow"
    running = start_capture(tmp_path / "home", monoliths.primary, out)
    auth = {"Authorization": f"Api-Key {monoliths.api_key}"}

    def one(n: int) -> int:
        with httpx.Client(base_url=running.url, timeout=60) as client:
            return client.get(f"/api/v1/wallets/?page_size={1 + n % 5}", headers=auth).status_code

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(one, range(40)))
    assert statuses == [200] * 40
    assert running.interrupt() == 0, running.stderr
    assert "captured 40 flows" in running.stderr
    flows = read_flows(mitm, out)["flows"]
    assert sorted(f["path"] for f in flows) == sorted(f"/api/v1/wallets/?page_size={1 + n % 5}"
                                                      for n in range(40))
    assert os.stat(out).st_mode & 0o077 == 0  # recorded traffic is readable by its owner only
