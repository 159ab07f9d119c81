"""End to end: the ledger read path extracted, behind the routing proxy, fed only by ACL events.

Real processes: the test PostgreSQL server (monolith and ledger databases), Tansu, the
ACL relay (``python -m acl.ops relay``), the monolith under gunicorn, the ledger
consumer and the ledger service under gunicorn, and the routing proxy on a route file
with ``wallets.balance`` and ``ledger.history`` in mode ``extracted``. Capture is
installed in the empty monolith database *before* anything is written, so merchants,
API keys, staff-made data and every ledger row reach the ledger as events only.

Read-after-write, decided here: the extracted read path is eventually consistent (its
responses say how far behind it is in ``X-Ledger-Sync-Lag``), and the legacy scenario
credits then reads at once. The test does not hide that inside the service: its HTTP
transport — a seam of the legacy client, the client's code and requests unchanged —
waits before each extracted read until every write the monolith had committed has been
relayed and the ledger consumer has since polled and found nothing pending (its
``caught_up_at`` mark). How many reads actually had to wait is asserted to be counted
and reported, so a regression in lag shows up as a number, not a flake.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from legacy_client import Transcript, run_scenario
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.e2e.test_proxy_modes import (
    create_database,
    first_difference,
    free_port,
    http_ok,
    normalised,
    port_open,
    tear_down,
    wait_until,
)
from tests.extracted.conftest import migrate_ledger

__all__ = ["kafka_bootstrap", "tansu"]
pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
EXTRACTED_PATHS = re.compile(r"^/api/v1/wallets/\d+/(balance|transactions)/")
ROUTES = """\
version = 1

[capabilities."wallets.balance"]
mode = "extracted"
routes = ["GET /api/v1/wallets/{id}/balance/"]

[capabilities."ledger.history"]
mode = "extracted"
routes = ["GET /api/v1/wallets/{id}/transactions/"]
"""
SYNC_TIMEOUT = 30.0


@dataclass
class Rig:
    monolith_url: str
    ledger_url: str
    proxy_url: str
    monolith_db: str
    ledger_db: str
    api_keys: list[str]
    ledger_log: Path


@pytest.fixture(scope="module")
def rig(pg_server_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    from acl.install import install
    from monolith.seed import seed

    home = tmp_path_factory.mktemp("ledger-e2e")
    created: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    monolith_db = create_database(pg_server_url, "lqmono", created)
    ledger_db = create_database(pg_server_url, "lqledger", created)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "STRANGLER_HOME": str(home),
            "STRANGLER_MONOLITH_DATABASE_URL": monolith_db,
            "STRANGLER_LEDGER_DATABASE_URL": ledger_db,
            "STRANGLER_LOG_FORMAT": "json",
        }
    )

    def start(name: str, argv: list[str]) -> None:
        log = (home / f"{name}.log").open("ab")
        children.append(
            subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, stdin=subprocess.DEVNULL
            )
        )

    try:
        subprocess.run(
            [sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"],
            env={**env, "DJANGO_SETTINGS_MODULE": "monolith.settings"},
            check=True,
            timeout=180,
        )
        migrate_ledger(ledger_db)
        install(monolith_db)  # before any row exists: every write below flows as events
        report = seed(monolith_db, transactions=300, merchants=2)
        ports = {name: free_port() for name in ("monolith", "ledger", "proxy")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        routes = home / "routes.toml"
        routes.write_text(ROUTES)
        start("relay", [sys.executable, "-m", "acl.ops", "relay", monolith_db, kafka_bootstrap])
        start(
            "consumer",
            [
                sys.executable,
                "-m",
                "extracted.ledger_query.consume",
                "--database-url",
                ledger_db,
                "--bootstrap-servers",
                kafka_bootstrap,
                "--group",
                f"ledger-e2e-{uuid.uuid4().hex[:8]}",
            ],
        )
        start(
            "monolith",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "monolith.wsgi:application",
                "--bind",
                f"127.0.0.1:{ports['monolith']}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-",
            ],
        )
        start(
            "ledger",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "extracted.ledger_query.wsgi:application",
                "--bind",
                f"127.0.0.1:{ports['ledger']}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-",
            ],
        )
        start(
            "proxy",
            [
                sys.executable,
                "-m",
                "routing_proxy",
                str(routes),
                "--port",
                str(ports["proxy"]),
                "--monolith-url",
                urls["monolith"],
                "--extracted-url",
                urls["ledger"],
                "--no-access-log",
            ],
        )
        for name in ("monolith", "ledger"):
            wait_until(http_ok(f"{urls[name]}/readyz"), 60, f"{name} gunicorn")
        wait_until(port_open(ports["proxy"]), 60, "proxy")
        rig = Rig(
            urls["monolith"],
            urls["ledger"],
            urls["proxy"],
            monolith_db,
            ledger_db,
            report.api_keys,
            home / "ledger.log",
        )
        SyncFence(rig).wait()  # the seeded history, merchants and keys have reached the ledger
        yield rig
    finally:
        tear_down(children, pg_server_url, created)


@dataclass
class SyncFence:
    """Blocks until the ledger has applied every monolith write committed before the call."""

    rig: Rig
    waited: list[float] = field(default_factory=list)  # seconds each fenced read had to wait

    def _relayed_up_to(self) -> datetime | None:
        with psycopg.connect(self.rig.monolith_db, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL"
            ).fetchone()
        return datetime.now(UTC) if row is not None and row[0] == 0 else None

    def _caught_up_since(self, moment: datetime) -> bool:
        with psycopg.connect(self.rig.ledger_db, autocommit=True) as conn:
            row = conn.execute("SELECT caught_up_at FROM ledger_sync_state WHERE id = 1").fetchone()
        return row is not None and row[0] is not None and row[0] > moment

    def wait(self) -> None:
        started = time.monotonic()
        relayed: list[datetime] = []

        def all_relayed() -> bool:
            moment = self._relayed_up_to()
            if moment is not None:
                relayed.append(moment)
            return moment is not None

        wait_until(all_relayed, SYNC_TIMEOUT, "the relay to publish every committed write")
        wait_until(
            lambda: self._caught_up_since(relayed[-1]),
            SYNC_TIMEOUT,
            "the ledger consumer to find nothing pending after the relay published",
        )
        self.waited.append(time.monotonic() - started)


class FencedTransport(httpx.BaseTransport):
    """The legacy client's transport, waiting on the sync fence before reads the ledger serves."""

    def __init__(self, fence: SyncFence) -> None:
        self.fence = fence
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and EXTRACTED_PATHS.match(request.url.path):
            self.fence.wait()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def scenario(url: str, api_key: str, transport: httpx.BaseTransport | None = None) -> Transcript:
    transcript = run_scenario(
        url, api_key=api_key, staff_username="ops", staff_password="ops-dev-password", transport=transport
    )
    assert transcript.ok, "\n".join(map(str, transcript.failures))
    return transcript


def wallet_of(transcript: Transcript) -> int:
    created = next(e for e in transcript.exchanges if e.step == "create wallet (locked)")
    wallet_id = created.json()["id"]
    assert isinstance(wallet_id, int)
    return wallet_id


def test_the_legacy_client_sees_the_monolith_answers_with_the_ledger_extracted(rig: Rig) -> None:
    """Same steps, statuses, normalised bodies and headers; ledger reads really served by the ledger."""
    served_before = rig.ledger_log.read_text(errors="replace").count('"GET /api/v1/wallets/')
    direct = scenario(rig.monolith_url, rig.api_keys[0])
    fence = SyncFence(rig)
    proxied = scenario(rig.proxy_url, rig.api_keys[0], FencedTransport(fence))
    assert [e.status for e in proxied.exchanges] == [e.status for e in direct.exchanges]
    assert normalised(proxied, direct) == normalised(direct, proxied), first_difference(direct, proxied)
    served = rig.ledger_log.read_text(errors="replace").count('"GET /api/v1/wallets/') - served_before
    ledger_steps = [e for e in proxied.exchanges if EXTRACTED_PATHS.match(e.path)]
    assert served == len(ledger_steps) > 0, "every balance/history read went to the ledger service"
    assert len(fence.waited) == len(ledger_steps)
    print(f"\nsync fence: {len(fence.waited)} ledger reads, waited max {max(fence.waited) * 1000:.0f} ms")


def test_ledger_responses_are_byte_identical_to_the_monoliths_for_the_same_request(rig: Rig) -> None:
    """After a scenario's writes have synced: balance and every history page, bytes and content type."""
    fence = SyncFence(rig)
    proxied = scenario(rig.proxy_url, rig.api_keys[0], FencedTransport(fence))
    wallet = wallet_of(proxied)
    fence.wait()
    proxy_host = urlsplit(rig.proxy_url).netloc
    paths = [
        f"/api/v1/wallets/{wallet}/balance/",
        f"/api/v1/wallets/{wallet}/transactions/",
        *(f"/api/v1/wallets/{wallet}/transactions/?page_size=2&page={n}" for n in (1, 2, 3)),
        f"/api/v1/wallets/{wallet}/transactions/?page=9",  # out of range: the legacy 404 body
        "/api/v1/wallets/999999999999/balance/",
    ]
    headers = {"Authorization": f"Api-Key {rig.api_keys[0]}"}
    with httpx.Client(timeout=30) as http:
        for path in paths:
            via_proxy = http.get(rig.proxy_url + path, headers=headers)
            # the monolith asked with the proxy's Host, so absolute next/previous links can match
            monolith = http.get(rig.monolith_url + path, headers={**headers, "Host": proxy_host})
            assert via_proxy.headers.get("x-ledger-sync-lag") is not None, (
                f"{path} was not served by the ledger"
            )
            assert (via_proxy.status_code, via_proxy.headers["content-type"], via_proxy.content) == (
                monolith.status_code,
                monolith.headers["content-type"],
                monolith.content,
            ), path
    # and the transcript's own final reads (after its last write) equal the monolith's now
    last_reads = [
        e for e in proxied.exchanges if e.step in ("balance before bad input", "bad input changed nothing")
    ]
    with httpx.Client(timeout=30) as http:
        for exchange in last_reads:
            monolith = http.get(rig.monolith_url + exchange.path, headers={**headers, "Host": proxy_host})
            assert exchange.body == monolith.content, exchange.step
