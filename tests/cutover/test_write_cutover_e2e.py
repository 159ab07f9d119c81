"""End to end: ``ledger.write`` cut over under load, and not a posting lost or doubled.

Real processes: PostgreSQL, Tansu, the ACL relay, the monolith and the ledger service under
gunicorn, the ledger consumer, ``ledger_sync``, and the routing proxy following the control
plane. While clients keep crediting wallets through the proxy and the monolith keeps paying
out from the same wallets (its ledger port), the plan goes shadow → extracted with the live
actions (``write_cutover_driver``). The consumer is paused (SIGSTOP) just before the flip and
resumed a few seconds later: monolith postings committed before the flip are then certainly
not yet projected when the ledger starts writing, the hole the hold closes.

Afterwards, with everything drained: every wallet's balance in the ledger equals its legacy
balance, the ledger's balance equals the sum of its entries, both sides hold the same
postings, and every credit a client saw succeed is there exactly once.

``STRANGLER_TEST_WRITE_HOLD=off`` runs the cutover without the hold, the drain and the
release: the test then fails (balances lost in the ledger), the proof the hold makes it pass.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from strangler.stack.net import free_port
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.e2e.test_proxy_modes import create_database, http_ok, port_open, tear_down, wait_until
from tests.extracted.conftest import migrate_ledger

__all__ = ["kafka_bootstrap", "tansu"]
pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
HOLD = os.environ.get("STRANGLER_TEST_WRITE_HOLD", "on") != "off"
CAP = "ledger.write"


@dataclass
class Rig:
    home: Path
    env: dict[str, str]
    monolith_url: str
    proxy_url: str
    monolith_db: str
    ledger_db: str
    api_key: str
    consumer: subprocess.Popen[bytes]

    def run(self, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, *argv], env=self.env, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def one(self, url: str, sql: str, *params: object) -> object:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def rig(pg_server_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    from acl.install import install
    from monolith.seed import seed

    home = tmp_path_factory.mktemp("write-cutover")
    created: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    monolith_db = create_database(pg_server_url, "wcmono", created)
    ledger_db = create_database(pg_server_url, "wcledger", created)
    control_db = create_database(pg_server_url, "wcctl", created)
    ports = {name: free_port() for name in ("monolith", "ledger", "proxy")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"STRANGLER_HOME": str(home), "STRANGLER_MONOLITH_DATABASE_URL": monolith_db,
                "STRANGLER_LEDGER_DATABASE_URL": ledger_db, "STRANGLER_CONTROL_DATABASE_URL": control_db,
                "STRANGLER_LEDGER_PORT": str(ports["ledger"]), "STRANGLER_KAFKA_BOOTSTRAP_SERVERS":
                kafka_bootstrap, "STRANGLER_LOG_FORMAT": "json"})

    def start(name: str, argv: list[str], settings: str | None = None) -> subprocess.Popen[bytes]:
        log = (home / f"{name}.log").open("ab")
        child_env = {**env, **({"DJANGO_SETTINGS_MODULE": settings} if settings else {})}
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                 stdin=subprocess.DEVNULL, env=child_env)
        children.append(child)
        return child

    def gunicorn(app: str, port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", "4", "--worker-class", "gthread", "--access-logfile", "-"]

    try:
        subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"],
                       env={**env, "DJANGO_SETTINGS_MODULE": "monolith.settings"}, check=True, timeout=180)
        migrate_ledger(ledger_db)
        install(monolith_db)  # before any row exists: every write below flows as events
        report = seed(monolith_db, transactions=300, merchants=2)
        rig = Rig(home, env, urls["monolith"], urls["proxy"], monolith_db, ledger_db, report.api_keys[0],
                  None)  # type: ignore[arg-type]
        rig.run("-m", "strangler", "routes", "import-urlconf")
        rig.run("-m", "strangler", "migrate", "declare", CAP, "--reason", "e2e")
        start("relay", [sys.executable, "-m", "acl.ops", "relay", monolith_db, kafka_bootstrap])
        rig.consumer = start("consumer", [sys.executable, "-m", "extracted.ledger_query.consume",
                                          "--database-url", ledger_db, "--bootstrap-servers", kafka_bootstrap,
                                          "--group", f"wc-e2e-{uuid.uuid4().hex[:8]}"])
        start("monolith", gunicorn("monolith.wsgi:application", ports["monolith"]), "monolith.settings")
        start("ledger", gunicorn("extracted.ledger_query.wsgi:application", ports["ledger"]),
              "extracted.ledger_query.settings")
        start("ledger_sync", [sys.executable, "-m", "monolith.wallets.ledger_sync", "--interval", "0.2"],
              "monolith.settings")
        start("proxy", [sys.executable, "-m", "routing_proxy", "--control-database-url", control_db,
                        "--port", str(ports["proxy"]), "--monolith-url", urls["monolith"],
                        "--extracted-url", urls["ledger"], "--no-access-log"])
        for name in ("monolith", "ledger"):
            wait_until(http_ok(f"{urls[name]}/readyz"), 60, f"{name} gunicorn")
        wait_until(port_open(ports["proxy"]), 60, "proxy")
        wait_until(lambda: quiet(rig), 120, "the seeded history to reach the ledger")
        yield rig
    finally:
        for child in children:  # a test may have left the consumer stopped
            if child.poll() is None:
                child.send_signal(signal.SIGCONT)
        tear_down(children, pg_server_url, created)


def quiet(rig: Rig) -> bool:
    """Relay, consumer and ledger_sync have nothing left to do (checked twice, 0.3 s apart)."""
    def snapshot() -> tuple[object, ...]:
        pending = rig.one(rig.monolith_db,
                          "SELECT count(*) FROM strangler_acl.outbox WHERE handled_at IS NULL")
        unsynced = rig.one(rig.ledger_db, "SELECT count(*) FROM ledger_write_event WHERE synced_at IS NULL")
        legacy = rig.one(rig.monolith_db, "SELECT count(*) FROM wallets_transaction")
        ledger = rig.one(rig.ledger_db, "SELECT count(*) FROM ledger_transaction")
        return pending, unsynced, legacy, ledger

    first = snapshot()
    time.sleep(0.3)
    second = snapshot()
    print(f"outbox pending, unsynced, legacy rows, ledger rows: {second}", flush=True)
    return first == second and first[0] == 0 and first[1] == 0 and first[2] == first[3]


@dataclass
class Load:
    """Credits through the proxy and payouts through the monolith, until stopped."""

    rig: Rig
    wallets: list[int]
    bank_account: int
    tag: str = field(default_factory=lambda: f"wc{uuid.uuid4().hex[:6]}")  # the credits' reference prefix
    stop: threading.Event = field(default_factory=threading.Event)
    credited: list[str] = field(default_factory=list)  # references of credits answered 201
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def _count(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code not in (201, 503):
            self.errors.append(f"{response.status_code} {response.text[:300]}")
        elif response.status_code == 503 and "LEDGER_" not in response.text:
            self.errors.append(f"503 not from the hand-over: {response.text[:300]}")

    def credits(self, n: int) -> None:
        headers = {"Authorization": f"Api-Key {self.rig.api_key}"}
        with httpx.Client(timeout=60, headers=headers) as http:
            i = 0
            while not self.stop.is_set():
                wallet = self.wallets[(n + i) % len(self.wallets)]
                reference = f"{self.tag}-{n}-{i}"
                response = http.post(f"{self.rig.proxy_url}/api/v1/wallets/{wallet}/credit/",
                                     json={"amount": "1.00", "reference": reference})
                self._count(response)
                if response.status_code == 201:
                    self.credited.append(reference)
                i += 1

    def payouts(self, n: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                wallet = self.wallets[(n + i) % len(self.wallets)]
                response = http.post(f"{self.rig.monolith_url}/api/v1/payouts/",
                                     json={"wallet_id": wallet, "bank_account_id": self.bank_account,
                                           "amount": "0.50"},
                                     headers={"Authorization": f"Api-Key {self.rig.api_key}",
                                              "Idempotency-Key": f"wc-po-{n}-{i}-{uuid.uuid4().hex[:6]}"})
                if response.status_code != 422:  # a payout the wallet cannot cover is no failure
                    self._count(response)
                i += 1
                time.sleep(0.05)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.credits, args=(n,)) for n in range(3)]
        threads += [threading.Thread(target=self.payouts, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        return threads


def pick(rig: Rig) -> tuple[list[int], int]:
    """A few active, unlocked INR wallets of the key's merchant with money, and its bank account."""
    import hashlib

    with psycopg.connect(rig.monolith_db, autocommit=True) as conn:
        merchant = conn.execute("SELECT merchant_id FROM accounts_apikey WHERE key_hash = %s",
                                (hashlib.sha256(rig.api_key.encode()).hexdigest(),)).fetchone()
        assert merchant is not None
        wallets = [r[0] for r in conn.execute(
            "SELECT id FROM wallets_wallet WHERE merchant_id = %s AND status = 1 AND NOT limits_locked"
            " AND currency = 'INR' AND balance >= 10000 ORDER BY id LIMIT 4", (merchant[0],)).fetchall()]
        account = conn.execute("SELECT min(id) FROM payouts_bankaccount WHERE merchant_id = %s",
                               (merchant[0],)).fetchone()
    assert len(wallets) >= 2 and account is not None and account[0] is not None, (wallets, account)
    return sorted(wallets), int(account[0])


def test_the_write_cutover_under_load_loses_and_doubles_no_posting(rig: Rig) -> None:
    wallets, account = pick(rig)
    rig.run("-m", "tests.cutover.write_cutover_driver", "shadow")
    load = Load(rig, wallets, account)
    threads = load.start()
    try:
        time.sleep(2)  # writes flow on the monolith (shadow: the ledger's answers are dry runs)
        rig.consumer.send_signal(signal.SIGSTOP)  # from here the monolith's postings pile up unprojected
        resume = threading.Timer(6.0, lambda: rig.consumer.send_signal(signal.SIGCONT))
        resume.start()
        time.sleep(1)
        cutover = subprocess.run(
            [sys.executable, "-m", "tests.cutover.write_cutover_driver", "extracted",
             *([] if HOLD else ["--no-hold"])],
            env=rig.env, cwd=REPO, capture_output=True, text=True, timeout=300)
        resume.join()
        time.sleep(3)  # writes go on, now on the ledger
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(120)
        rig.consumer.send_signal(signal.SIGCONT)
    print(f"\nwrite cutover (hold {'on' if HOLD else 'OFF'}): {cutover.stdout}\nclient statuses "
          f"{dict(sorted(load.statuses.items()))}, {len(load.credited)} credits answered 201")
    assert cutover.returncode == 0, cutover.stderr[-3000:]
    assert load.errors == [], load.errors[:5]
    wait_until(lambda: quiet(rig), 120, "relay, consumer and ledger_sync to drain")

    by_ledger = same_on_both_sides(rig, wallets, load)
    assert by_ledger > 0, "the ledger wrote nothing after the flip: the test proved nothing"


def same_on_both_sides(rig: Rig, wallets: list[int], load: Load) -> int:
    """Assert the ledger and the legacy tables agree on the wallets; the ledger's own postings."""
    with psycopg.connect(rig.monolith_db, autocommit=True) as mono, \
            psycopg.connect(rig.ledger_db, autocommit=True) as ledger:
        legacy = {w: (Decimal(b) / 100) for w, b in mono.execute(
            "SELECT id, balance FROM wallets_wallet WHERE id = ANY(%s)", (wallets,)).fetchall()}
        held = {w: Decimal(b) for w, b in ledger.execute(
            "SELECT wallet_id, balance FROM ledger_wallet WHERE wallet_id = ANY(%s)", (wallets,)).fetchall()}
        entries = {w: Decimal(s) for w, s in ledger.execute(
            "SELECT wallet_id, sum(amount) FROM ledger_transaction WHERE wallet_id = ANY(%s) GROUP BY 1",
            (wallets,)).fetchall()}
        legacy_ids = sorted(r[0] for r in mono.execute(
            "SELECT id FROM wallets_transaction WHERE wallet_id = ANY(%s)", (wallets,)).fetchall())
        ledger_ids = sorted(r[0] for r in ledger.execute(
            "SELECT id FROM ledger_transaction WHERE wallet_id = ANY(%s)", (wallets,)).fetchall())
        by_ledger = int(ledger.execute("SELECT count(*) FROM ledger_write_event WHERE wallet_id = ANY(%s)",
                                       (wallets,)).fetchone()[0])  # type: ignore[index]
        references = [r[0] for r in mono.execute(
            "SELECT reference FROM wallets_transaction WHERE reference LIKE %s",
            (f"{load.tag}-%",)).fetchall()]
    assert held == entries, "a ledger balance is not the sum of its postings: a posting was lost from it"
    assert held == legacy, "the ledger's balances differ from the legacy balances"
    assert ledger_ids == legacy_ids, "the two sides hold different postings"
    assert sorted(references) == sorted(load.credited), "a credit a client saw succeed is missing or doubled"
    return by_ledger


def test_the_write_rollback_under_load_hands_the_writes_back_without_a_posting_lost(rig: Rig) -> None:
    """After the cutover above: back to the monolith as the writer, the ledger's write path closed."""
    wallets, account = pick(rig)
    load = Load(rig, wallets, account)
    threads = load.start()
    try:
        time.sleep(2)  # writes flow on the ledger
        back = subprocess.run([sys.executable, "-m", "tests.cutover.write_cutover_driver", "rollback"],
                              env=rig.env, cwd=REPO, capture_output=True, text=True, timeout=300)
        time.sleep(3)  # writes go on, now on the monolith
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(120)
    print(f"\nwrite rollback: {back.stdout}\nclient statuses {dict(sorted(load.statuses.items()))}")
    assert back.returncode == 0, back.stderr[-3000:]
    assert load.errors == [], load.errors[:5]
    wait_until(lambda: quiet(rig), 120, "relay, consumer and ledger_sync to drain")
    same_on_both_sides(rig, wallets, load)
    newest_ledger_id = rig.one(rig.ledger_db, "SELECT max(transaction_id) FROM ledger_write_event")
    after = rig.one(rig.monolith_db, "SELECT count(*) FROM wallets_transaction WHERE id > %s"
                    " AND reference LIKE %s", newest_ledger_id, f"{load.tag}-%")
    assert isinstance(after, int) and after > 0, "the monolith's new postings come after the ledger's ids"
    assert rig.one(rig.ledger_db, "SELECT state FROM ledger_write_gate") == "closed"
