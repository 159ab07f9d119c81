"""The shadow end-to-end rig: every part a real process, the candidates with planted bugs.

Processes: the test PostgreSQL server (monolith, ledger and control plane databases),
Tansu, the ACL relay, the ledger consumer; the ledger read service under gunicorn
(the read candidate, its one planted bug switched on by ``STRANGLER_PLANTED_BUG``);
the monolith under gunicorn (the primary); two more monolith gunicorns with the
dry-run middleware (``tests.e2e.shadow_monolith``) on the same database: the write
candidate (credits one paisa more) and the secondary (no bug, for noise
cancellation); and the routing proxy started by ``strangler proxy`` following the
control plane, with its comparator storing observations there.

``SHADOW_E2E_PLANTED_BUGS`` (comma list, default both) chooses which bugs are
planted; set it empty to see the e2e test fail for want of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.test_ledger_query_extracted import Rig as LedgerRig
from tests.e2e.test_proxy_modes import create_database, http_ok, port_open, tear_down, wait_until
from tests.extracted.conftest import migrate_ledger

REPO = Path(__file__).resolve().parents[2]
READ_BUG = "ledger_query.txn_type_display"
WRITE_BUG = "monolith.credit_one_paisa_more"
SHADOWED = ("wallets.credit", "wallets.balance", "wallets.transactions")
GUNICORN = ["--workers", "1", "--threads", "4", "--worker-class", "gthread", "--access-logfile", "-"]


def planted_bugs() -> set[str]:
    raw = os.environ.get("SHADOW_E2E_PLANTED_BUGS", f"{READ_BUG},{WRITE_BUG}")
    return {name for name in raw.split(",") if name}


def rules_toml(candidate_url: str) -> str:
    """Diff rules: writes of ``wallets.credit`` are shadowed (dry run) to the monolith candidate.

    No ignore rules on purpose: ids and timestamps must be cancelled by the secondary.
    """
    return f"""\
[capabilities."wallets.credit"]
dry_run = true
candidate = "{candidate_url}"
timeout_ms = 10000

[capabilities."wallets.balance"]
timeout_ms = 10000

[capabilities."wallets.transactions"]
timeout_ms = 10000
"""


@dataclass
class ShadowRig:
    env: dict[str, str]
    home: Path
    monolith_url: str
    proxy_url: str
    monolith_db: str
    ledger_db: str
    control_db: str
    api_keys: list[str]
    proxy: subprocess.Popen[bytes]
    bugs: set[str] = field(default_factory=set)

    def ledger(self) -> LedgerRig:
        """The ledger e2e's rig shape, for its SyncFence (which reads only the two databases)."""
        return LedgerRig(self.monolith_url, "", self.proxy_url, self.monolith_db, self.ledger_db,
                         self.api_keys, self.home / "ledger.log")

    def strangler(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_strangler(self.env, *argv, timeout=timeout)

    def stop_proxy(self, timeout: float = 30) -> int:
        """SIGTERM ``strangler proxy`` as an operator's Ctrl-C would: it must flush and exit 0."""
        if self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
        return self.proxy.wait(timeout)


def run_strangler(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``strangler`` CLI as a real subprocess."""
    return subprocess.run([sys.executable, "-m", "strangler", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def shadow_rig(pg_server_url: str, kafka_bootstrap: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShadowRig]:
    from acl.install import install
    from monolith.seed import seed

    home = tmp_path_factory.mktemp("shadow-e2e")
    created: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    monolith_db = create_database(pg_server_url, "shmono", created)
    ledger_db = create_database(pg_server_url, "shledger", created)
    control_db = create_database(pg_server_url, "shctl", created)
    bugs = planted_bugs()
    inherited = ("DJANGO_SETTINGS_MODULE", "STRANGLER_PLANTED_BUG")
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env.update({"STRANGLER_HOME": str(home), "STRANGLER_MONOLITH_DATABASE_URL": monolith_db,
                "STRANGLER_LEDGER_DATABASE_URL": ledger_db, "STRANGLER_CONTROL_DATABASE_URL": control_db,
                "STRANGLER_LOG_FORMAT": "json"})

    def start(name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = (home / f"{name}.log").open("ab")
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**env, **extra}, cwd=REPO,
                                 stdin=subprocess.DEVNULL)
        children.append(child)
        return child

    try:
        subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"],
                       env={**env, "DJANGO_SETTINGS_MODULE": "monolith.settings"}, check=True, timeout=180)
        migrate_ledger(ledger_db)
        install(monolith_db)  # before any row exists: every write reaches the ledger as events
        report = seed(monolith_db, transactions=300, merchants=2)
        names = ("monolith", "candidate", "secondary", "ledger", "proxy")
        ports = dict(zip(names, _free_ports(len(names)), strict=True))
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        (home / "rules.toml").write_text(rules_toml(urls["candidate"]))
        start("relay", [sys.executable, "-m", "acl.ops", "relay", monolith_db, kafka_bootstrap])
        start("consumer", [sys.executable, "-m", "extracted.ledger_query.consume",
                           "--database-url", ledger_db, "--bootstrap-servers", kafka_bootstrap,
                           "--group", f"shadow-e2e-{uuid.uuid4().hex[:8]}"])
        start("monolith", [sys.executable, "-m", "gunicorn", "monolith.wsgi:application",
                           "--bind", f"127.0.0.1:{ports['monolith']}", *GUNICORN],
              DJANGO_SETTINGS_MODULE="monolith.settings")
        for name, planted in (("candidate", WRITE_BUG in bugs), ("secondary", False)):
            start(name, [sys.executable, "-m", "gunicorn", "tests.e2e.shadow_monolith:application",
                         "--bind", f"127.0.0.1:{ports[name]}", *GUNICORN],
                  DJANGO_SETTINGS_MODULE="tests.e2e.shadow_monolith",
                  STRANGLER_PLANTED_BUG=WRITE_BUG if planted else "")
        start("ledger", [sys.executable, "-m", "gunicorn", "extracted.ledger_query.wsgi:application",
                         "--bind", f"127.0.0.1:{ports['ledger']}", *GUNICORN],
              STRANGLER_PLANTED_BUG=READ_BUG if READ_BUG in bugs else "")
        imported = run_strangler(env, "routes", "import-urlconf")
        assert imported.returncode == 0, imported.stderr
        proxy = start("proxy", [sys.executable, "-m", "strangler", "proxy", "--port", str(ports["proxy"]),
                                    "--monolith-url", urls["monolith"], "--extracted-url", urls["ledger"],
                                    "--shadow-rules", str(home / "rules.toml"),
                                    "--shadow-secondary-url", urls["secondary"]])
        for name in ("monolith", "candidate", "secondary", "ledger"):
            wait_until(http_ok(f"{urls[name]}/readyz"), 90, f"{name} gunicorn")
        wait_until(port_open(ports["proxy"]), 90, "proxy")
        rig = ShadowRig(env, home, urls["monolith"], urls["proxy"], monolith_db, ledger_db, control_db,
                        report.api_keys, proxy, bugs)
        for capability in SHADOWED:
            flipped = rig.strangler("routes", "flip", capability, "shadow", "--reason", "shadow e2e",
                                    "--wait", "15")
            assert flipped.returncode == 0, flipped.stdout + flipped.stderr
        yield rig
    finally:
        tear_down(children, pg_server_url, created, wait=20)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (free_port twice in a row may hand out the same one)."""
    from strangler.stack.net import free_port

    found: list[int] = []
    deadline = time.monotonic() + 10
    while len(found) < count and time.monotonic() < deadline:
        port = free_port()
        if port not in found:
            found.append(port)
    return found
