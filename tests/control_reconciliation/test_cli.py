"""``strangler reconcile`` as CI runs it: a subprocess on the test control database; exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.reconcile import ledger_fixture
from tests.reconcile.conftest import LedgerPair

# Until reconcile_cmd is in strangler.cli.MODULES, add it the way that list would.
_MAIN = ("import sys, strangler.cli as cli; from strangler.cli import reconcile_cmd; "
         "cli.MODULES = tuple(dict.fromkeys((*cli.MODULES, reconcile_cmd))); "
         "sys.exit(cli.main(sys.argv[1:]))")


def strangler(control: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRANGLER_CONTROL_DATABASE_URL": control,
           "STRANGLER_LOG_FORMAT": "console"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-c", _MAIN, "reconcile", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def one(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
        assert row is not None, query
        return row[0]


def test_run_exit_codes_report_certificate_and_sign_off(
        pair: LedgerPair, tmp_path: Path, fresh_database: Callable[[str], str]) -> None:
    """A control database of its own: the CLI creates its schema as in production."""
    control = fresh_database("crec_control")
    urls = ("--legacy-url", pair.legacy, "--extracted-url", pair.extracted)
    clean = strangler(control, "run", "--capability", "ledger", *urls)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "clean" in clean.stdout

    ledger_fixture.execute(pair.extracted, "UPDATE ledger_transaction SET reference = 'x' WHERE id = 4")
    breaks = strangler(control, "run", *urls)
    assert breaks.returncode == 1, breaks.stdout + breaks.stderr

    gone = strangler(control, "run", "--legacy-url", pair.legacy,
                     "--extracted-url", pair.extracted.rsplit("/", 1)[0] + "/missing_db")
    assert gone.returncode == 2 and "incomplete" in gone.stdout

    run = one(control, "SELECT id FROM reconciliation_reconciliationrun WHERE status = 'breaks'")
    out = tmp_path / "r.html"
    report = strangler(control, "report", str(run), "--format", "html", "--out", str(out))
    assert report.returncode == 0 and "<h2>By category</h2>" in out.read_text()
    assert strangler(control, "report", str(run), "--format", "csv").stdout.startswith("id,category")

    cert = strangler(control, "certificate", "--capability", "ledger", "--runs", "1")
    assert cert.returncode == 1 and "INSUFFICIENT" in cert.stdout  # the latest run is incomplete

    d = one(control, f"SELECT id FROM reconciliation_discrepancy WHERE run_id = {run} "
                     "AND \"column\" = 'reference'")
    assert strangler(control, "ack", str(d), "--note", "checking", "--actor", "asha").returncode == 0
    refused = strangler(control, "ack", str(d), "--note", "again")
    assert refused.returncode != 0 and "acknowledged" in refused.stderr
    assert one(control, f"SELECT state FROM reconciliation_discrepancy WHERE id = {d}") == "acknowledged"
    assert one(control, "SELECT actor FROM reconciliation_discrepancyaction "
                        f"WHERE discrepancy_id = {d}") == "asha"


def test_run_help_explains_exit_codes_and_a_bad_request_says_what_to_fix(
        fresh_database: Callable[[str], str], tmp_path: Path) -> None:
    control = fresh_database("crec_help")
    shown = strangler(control, "run", "--help")
    assert shown.returncode == 0
    for text in ("exit codes:", "incremental", "--full", "STRANGLER_RECONCILE_EXTRACTED_URL"):
        assert text in shown.stdout
    missing = strangler(control, "run", "--mapping", str(tmp_path / "nope.toml"))
    assert missing.returncode == 65
    said = " ".join(missing.stderr.split())  # rich wraps at the terminal width
    assert "nope.toml" in said and "cannot be read" in said and "Traceback" not in said
    unknown = strangler(control, "run", "--capability", "payouts")
    assert unknown.returncode == 65 and "known: ledger" in " ".join(unknown.stderr.split())
