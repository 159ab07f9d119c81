"""End to end: read-your-writes through the proxy with the ledger read path extracted, no test-side waiting.

The rig of ``test_ledger_query_extracted`` (real processes: PostgreSQL, Tansu, the ACL
relay, the monolith and the ledger service under gunicorn, the ledger consumer, the
routing proxy with ``wallets.balance`` and ``ledger.history`` in mode ``extracted``),
but the legacy client talks to the proxy with its ordinary transport: nothing waits
for the ledger to catch up except the proxy's read-your-writes fence
(``routing_proxy.fence``, ``extracted.ledger_query.fence``). The transcript must equal
the direct one, and the proxy's fence counters say how many ledger reads were fenced,
answered at once, waited, or missed and were replayed on the monolith.

The proxy runs with its default fence: only the writes that feed the ledger's reads
(wallets, transfers, payouts) leave tokens. With every write tracked (``/``), the
scenario's writes that produce no ledger event (users, webhooks, bank accounts) would
make the ledger reads after them miss and be served by the monolith: correct, but the
ledger would serve nothing.

The last test starts a second proxy that also sends the ledger's writes (credit, debit,
transfers) to the ledger, as after the write cutover, and checks that the fence makes a
write wait for the client's monolith writes too.

``STRANGLER_TEST_FENCE=off`` starts the proxy with ``--no-read-your-writes``: the
transcript test then fails on the first read that beat its write to the ledger (the
proof that the fence, not luck, makes it pass).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from legacy_client import Transcript, run_scenario
from strangler.stack.net import free_port
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.e2e.test_ledger_query_extracted import ROUTES, SyncFence
from tests.e2e.test_proxy_modes import (
    create_database,
    first_difference,
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
FENCE_ON = os.environ.get("STRANGLER_TEST_FENCE", "on") != "off"
_SAMPLE = re.compile(r'^strangler_proxy_fence_total\{capability="([^"]*)",outcome="([^"]*)"\} (\S+)$', re.M)


def fence_counts(metrics_url: str) -> dict[str, int]:
    """A proxy's fence counters, summed over capabilities."""
    text = httpx.get(metrics_url, timeout=10).text
    counts: dict[str, int] = {}
    for _capability, outcome, value in _SAMPLE.findall(text):
        counts[outcome] = counts.get(outcome, 0) + int(float(value))
    return counts


@dataclass
class Rig:
    monolith_url: str
    proxy_url: str
    metrics_url: str
    monolith_db: str
    ledger_db: str
    api_keys: list[str]
    ledger_log: Path
    ledger_url: str
    home: Path

    def fence_counts(self) -> dict[str, int]:
        """The proxy's fence counters, summed over capabilities."""
        return fence_counts(self.metrics_url)


@pytest.fixture(scope="module")
def rig(pg_server_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    from acl.install import install
    from monolith.seed import seed

    home = tmp_path_factory.mktemp("ryw-e2e")
    created: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    monolith_db = create_database(pg_server_url, "rywmono", created)
    ledger_db = create_database(pg_server_url, "rywledger", created)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"STRANGLER_HOME": str(home), "STRANGLER_MONOLITH_DATABASE_URL": monolith_db,
                "STRANGLER_LEDGER_DATABASE_URL": ledger_db, "STRANGLER_LOG_FORMAT": "json"})

    def start(name: str, argv: list[str]) -> None:
        log = (home / f"{name}.log").open("ab")
        children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                         stdin=subprocess.DEVNULL))

    def gunicorn(app: str, port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", "4", "--worker-class", "gthread", "--access-logfile", "-"]

    try:
        subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"],
                       env={**env, "DJANGO_SETTINGS_MODULE": "monolith.settings"}, check=True, timeout=180)
        migrate_ledger(ledger_db)
        install(monolith_db)  # before any row exists: every write below flows as events
        report = seed(monolith_db, transactions=300, merchants=2)
        ports = {name: free_port() for name in ("monolith", "ledger", "proxy", "metrics")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        routes = home / "routes.toml"
        routes.write_text(ROUTES)
        start("relay", [sys.executable, "-m", "acl.ops", "relay", monolith_db, kafka_bootstrap])
        start("consumer", [sys.executable, "-m", "extracted.ledger_query.consume",
                           "--database-url", ledger_db, "--bootstrap-servers", kafka_bootstrap,
                           "--group", f"ryw-e2e-{uuid.uuid4().hex[:8]}"])
        start("monolith", gunicorn("monolith.wsgi:application", ports["monolith"]))
        start("ledger", gunicorn("extracted.ledger_query.wsgi:application", ports["ledger"]))
        start("proxy", [sys.executable, "-m", "routing_proxy", str(routes), "--port", str(ports["proxy"]),
                        "--monolith-url", urls["monolith"], "--extracted-url", urls["ledger"],
                        "--no-access-log", "--metrics-port", str(ports["metrics"]),
                        *([] if FENCE_ON else ["--no-read-your-writes"])])
        for name in ("monolith", "ledger"):
            wait_until(http_ok(f"{urls[name]}/readyz"), 60, f"{name} gunicorn")
        wait_until(port_open(ports["proxy"]), 60, "proxy")
        wait_until(port_open(ports["metrics"]), 60, "proxy metrics")
        rig = Rig(urls["monolith"], urls["proxy"], f"{urls['metrics']}/metrics", monolith_db, ledger_db,
                  report.api_keys, home / "ledger.log", urls["ledger"], home)
        # set-up, not the client's path: the seeded history, merchants and keys reach the ledger
        SyncFence(rig).wait()  # type: ignore[arg-type]
        yield rig
    finally:
        tear_down(children, pg_server_url, created)


def scenario(url: str, api_key: str) -> Transcript:
    transcript = run_scenario(url, api_key=api_key, staff_username="ops", staff_password="ops-dev-password")
    assert transcript.ok, "\n".join(map(str, transcript.failures))
    return transcript


def test_the_legacy_client_reads_its_own_writes_through_the_extracted_ledger(rig: Rig) -> None:
    """Same transcript as direct, with no waiting outside the proxy; the fence's work is counted."""
    served_before = rig.ledger_log.read_text(errors="replace").count('"GET /api/v1/wallets/')
    before = rig.fence_counts()
    direct = scenario(rig.monolith_url, rig.api_keys[0])
    proxied = run_scenario(rig.proxy_url, api_key=rig.api_keys[0], staff_username="ops",
                           staff_password="ops-dev-password")
    counts = {k: v - before.get(k, 0) for k, v in rig.fence_counts().items()}
    served = rig.ledger_log.read_text(errors="replace").count('"GET /api/v1/wallets/') - served_before
    ledger_steps = [e for e in proxied.exchanges if EXTRACTED_PATHS.match(e.path)]
    print(f"\nread-your-writes fence {'on' if FENCE_ON else 'OFF'}: {len(ledger_steps)} ledger reads, "
          f"{served} reached the ledger, fence counters {dict(sorted(counts.items()))}")
    assert proxied.ok, "\n".join(map(str, proxied.failures))
    assert [e.status for e in proxied.exchanges] == [e.status for e in direct.exchanges]
    assert normalised(proxied, direct) == normalised(direct, proxied), first_difference(direct, proxied)
    assert served == len(ledger_steps) > 0, "every balance/history read went to the ledger service first"
    assert counts.get("write_tracked", 0) > 0 and counts.get("fenced", 0) > 0
    answered = sum(counts.get(k, 0) for k in ("hit", "waited", "miss", "unsupported"))
    assert answered == counts["fenced"], "every fenced read got a verdict"
    assert counts.get("fallback", 0) == counts.get("miss", 0) + counts.get("unsupported", 0)
    assert counts.get("unsupported", 0) == 0 and counts.get("bypass", 0) == 0


def test_a_credit_read_back_at_once_is_never_stale(rig: Rig) -> None:
    """The sharpest case: credit, then read balance and history at once, many times over."""
    auth = {"Authorization": f"Api-Key {rig.api_keys[0]}"}
    with httpx.Client(timeout=30, headers=auth) as monolith, httpx.Client(timeout=30, headers=auth) as proxy:
        wallets = monolith.get(f"{rig.monolith_url}/api/v1/wallets/?page_size=100").json()["results"]
        wallet = next(w["id"] for w in wallets if w["status"] == 1 and not w["limits_locked"])
        before = rig.fence_counts()
        stale: list[str] = []
        rounds = 20
        for n in range(rounds):
            credit = proxy.post(f"{rig.proxy_url}/api/v1/wallets/{wallet}/credit/",
                                json={"amount": "1.00", "reference": f"ryw-{uuid.uuid4().hex[:8]}"})
            assert credit.status_code == 201, credit.text
            for path in (f"/api/v1/wallets/{wallet}/balance/",
                         f"/api/v1/wallets/{wallet}/transactions/?page_size=1"):
                via_proxy = proxy.get(rig.proxy_url + path)
                direct = monolith.get(rig.monolith_url + path)
                seen, truth = via_proxy.json(), direct.json()
                if path.endswith("page_size=1"):  # the page links carry each server's host
                    seen, truth = seen["results"], truth["results"]
                if (via_proxy.status_code, seen) != (direct.status_code, truth):
                    stale.append(f"round {n} {path}: proxy {seen} vs monolith {truth}")
        counts = {k: v - before.get(k, 0) for k, v in rig.fence_counts().items()}
    print(f"\nread-your-writes fence {'on' if FENCE_ON else 'OFF'}: {rounds} credits, {2 * rounds} reads, "
          f"{len(stale)} stale, fence counters {dict(sorted(counts.items()))}")
    assert stale == [], "\n".join(stale[:5])
    # the read after each credit is fenced; the next one only if the first missed (still pending)
    assert rounds <= counts["fenced"] <= rounds + counts.get("miss", 0)
    assert counts.get("fallback", 0) == counts.get("miss", 0)


WRITE_ROUTES = ROUTES + """
[capabilities."ledger.write"]
mode = "extracted"
routes = ["POST /api/v1/wallets/{id}/credit/", "POST /api/v1/wallets/{id}/debit/", "POST /api/v1/transfers/"]
"""


@pytest.mark.skipif(not FENCE_ON, reason="the write fence is the fence")
def test_after_the_write_cutover_a_wallet_opened_on_the_monolith_is_debited_through_the_ledger(
        rig: Rig) -> None:
    """The CI failure of test_demo ("debit on locked wallet": 404, not 409), on purpose and many
    times: a second proxy sends the ledger's writes to the ledger, a wallet is opened (on the
    monolith) and debited at once. The write fence makes the debit wait for the wallet; it can
    only miss (and then 404) when the ledger trails by more than the fence's wait, and then the
    proxy counts a write miss."""
    routes = rig.home / "write-routes.toml"
    routes.write_text(WRITE_ROUTES)
    port, metrics_port = free_port(), free_port()
    log = (rig.home / "write-proxy.log").open("ab")
    proxy = subprocess.Popen(
        [sys.executable, "-m", "routing_proxy", str(routes), "--port", str(port),
         "--monolith-url", rig.monolith_url, "--extracted-url", rig.ledger_url, "--no-access-log",
         "--metrics-port", str(metrics_port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO, stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"})
    try:
        wait_until(port_open(port), 60, "write proxy")
        wait_until(port_open(metrics_port), 60, "write proxy metrics")
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        rounds, statuses = 10, []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Api-Key {rig.api_keys[-1]}"}) as http:
            for n in range(rounds):
                user = http.post("/api/v1/users/", json={"external_ref": f"wf-{uuid.uuid4().hex[:12]}",
                                                         "full_name": f"Write Fence {n}"})
                assert user.status_code == 201, user.text
                wallet = http.post("/api/v1/wallets/", json={"user_id": user.json()["id"]})
                assert wallet.status_code == 201 and wallet.json()["limits_locked"], wallet.text
                debit = http.post(f"/api/v1/wallets/{wallet.json()['id']}/debit/", json={"amount": "1.00"})
                statuses.append(debit.status_code)
                if debit.status_code == 409:
                    assert debit.json()["error_code"] == "WALLET_LOCKED"
        counts = fence_counts(metrics_url)
    finally:
        proxy.terminate()
        proxy.wait(15)
        log.close()
    print(f"\nwrite fence: {rounds} debits right after opening the wallet, statuses {statuses}, "
          f"fence counters {dict(sorted(counts.items()))}")
    assert counts.get("write_fenced", 0) == rounds, "every debit after a monolith write is fenced"
    answered = sum(counts.get(k, 0) for k in ("write_hit", "write_waited", "write_miss"))
    assert answered == rounds and counts.get("write_unsupported", 0) == 0
    # a 404 only where the ledger trailed by more than the wait (a miss the proxy counted)
    assert statuses.count(404) <= counts.get("write_miss", 0)
    assert statuses.count(409) == rounds - statuses.count(404) > 0
    assert counts.get("fallback", 0) == 0, "a write is never replayed on the monolith"
