"""``strangler migrate`` as an operator runs it: subprocesses on fresh monolith, ledger and control
databases; the first step installs capture and backfills for real, later ones meet real evidence."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import psycopg

from tests.acl.conftest import kafka_bootstrap, legacy_db_factory, legacy_template, tansu
from tests.extracted.conftest import ledger_db
from tests.migrations.backfill_fixtures import one, seed_history

__all__ = ["kafka_bootstrap", "ledger_db", "legacy_db_factory", "legacy_template", "tansu"]
CAP = "wallets.transactions"


def test_an_operator_walks_the_plan_is_stopped_by_missing_evidence_and_rolls_back(
        legacy_db_factory: Callable[[bool], str], ledger_db: str,
        fresh_database: Callable[[str], str], kafka_bootstrap: str) -> None:
    monolith = legacy_db_factory(False)
    seed_history(monolith, wallets=2, per_wallet=50)
    env = {**os.environ, "STRANGLER_CONTROL_DATABASE_URL": fresh_database("cut_control"),
           "STRANGLER_MONOLITH_DATABASE_URL": monolith, "STRANGLER_LEDGER_DATABASE_URL": ledger_db,
           "STRANGLER_LOG_FORMAT": "console", "COLUMNS": "200",
           # the backfill publishes the ledger's reference data (merchants, API keys) as events
           "STRANGLER_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def strangler(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "strangler", *args], env=env,
                              capture_output=True, text=True, timeout=180, check=False)

    assert strangler("routes", "import-urlconf").returncode == 0
    status = strangler("migrate", "status", CAP)
    assert status.returncode == 0 and "planned → backfilled" in status.stdout

    first = strangler("migrate", "advance", CAP, "--reason", "start", "--chunk-rows", "40")
    # capture installed and history copied, but no ledger consumer has ever run: the step stays open
    assert first.returncode == 3, first.stdout + first.stderr
    assert "sync_lag" in first.stderr and "never run" in first.stderr
    assert one(ledger_db, "SELECT count(*) FROM ledger_transaction") == 100
    assert one(monolith, "SELECT to_regclass('strangler_acl.outbox') IS NOT NULL")

    with psycopg.connect(ledger_db, autocommit=True) as conn:  # what an idle consumer records
        conn.execute("UPDATE ledger_sync_state SET caught_up_at = now() WHERE id = 1")
    finished = strangler("migrate", "advance", CAP, "--to", "shadow", "--reason", "go")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "planned → backfilled" in finished.stdout and "backfilled → shadow" in finished.stdout

    refused = strangler("migrate", "advance", CAP, "--reason", "canary")
    assert refused.returncode == 2
    assert "shadow: insufficient evidence" in refused.stderr
    assert "reconciliation: insufficient evidence" in refused.stderr

    back = strangler("migrate", "rollback", CAP, "--reason", "abort")
    assert back.returncode == 0 and "shadow → backfilled" in back.stdout
    routes = strangler("routes", "list")
    assert CAP in routes.stdout
    audit = strangler("routes", "audit", "--capability", CAP)
    assert "migrate-rollback" in audit.stdout and "migrate" in audit.stdout

    again = strangler("migrate", "backfill", "ledger")
    assert again.returncode == 0 and "copied 0 rows" in again.stdout
