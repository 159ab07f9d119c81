"""Runs in the control plane: stored results, resume, idempotence, manifests, certificate, gate."""

from __future__ import annotations

import json

import pytest

from reconcile import balances
from reconcile import manifest as mf
from strangler.control.reconciliation import reports, services
from strangler.control.reconciliation.config import ReconcileConfig
from strangler.control.reconciliation.errors import InvalidActionError
from strangler.control.reconciliation.evidence import parity_evidence
from strangler.control.reconciliation.models import (
    ACCEPTED,
    DiscrepancyAction,
    ReconciliationRun,
)
from strangler.control.routing.gates import Verdict
from tests.reconcile import ledger_fixture
from tests.reconcile.conftest import LedgerPair

pytestmark = pytest.mark.django_db(databases=["control"])
STEPS = ["transactions", "entries", *balances.CHECKS]


def run_once(config: ReconcileConfig) -> ReconciliationRun:
    run = services.start_run("ledger", requested_by="tester")
    return services.execute_run(run.pk, config=config)


def test_a_faithful_ledger_gives_a_clean_signed_run_with_full_coverage(
        config: ReconcileConfig) -> None:
    seen: list[tuple[int, int, str]] = []
    run = services.start_run("ledger", requested_by="tester")
    run = services.execute_run(run.pk, config=config, progress=lambda *a: seen.append(a))
    assert run.status == "clean" and run.discrepancies.count() == 0
    assert seen[0] == (0, 5, "") and seen[-1][:2] == (5, 5)
    assert run.manifest is not None and run.manifest["coverage"]["full"]
    assert [c["name"] for c in run.manifest["comparisons"]] == sorted(STEPS)
    assert run.signature == mf.sign(run.manifest, config.signing_key)
    assert (run.sequence, run.previous_hash) == (1, mf.GENESIS)


def test_planted_breaks_are_stored_with_wallet_and_day_and_the_run_is_breaks(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_entry SET amount = amount + "
                                           "CASE leg WHEN 'wallet' THEN 1 ELSE -1 END "
                                           "WHERE transaction_id = 25")
    run = run_once(config)
    assert run.status == "breaks"
    daily = run.discrepancies.filter(comparison="balances", column="net").get()
    assert (daily.wallet_id, str(daily.day), daily.difference) == (2, "2025-01-02", "1.00")
    assert run.discrepancies.filter(comparison="entries", key="25|wallet").exists()
    assert run.counts["mismatch"] == run.discrepancies.values("comparison", "key").distinct().count()


def test_execute_run_is_idempotent_and_a_partial_checkpoint_resumes_without_redoing_steps(
        config: ReconcileConfig) -> None:
    run = services.start_run("ledger", requested_by="tester")
    # As a worker killed after two comparisons leaves it: running, two steps checkpointed.
    fake = {"name": "transactions", "status": "clean", "complete": True, "breaks": 0,
            "by_category": {}, "marker": "kept"}
    run.status, run.checkpoint["done"] = "running", {"transactions": fake}
    run.save()
    steps: list[str] = []
    run = services.execute_run(run.pk, config=config, progress=lambda d, t, s: steps.append(s))
    assert steps == ["", "entries", *balances.CHECKS]  # transactions not run again
    assert run.status == "clean" and run.attempts == 1
    assert run.checkpoint["done"]["transactions"]["marker"] == "kept"
    again = services.execute_run(run.pk, config=config)
    assert (again.attempts, again.signature, again.sequence) == (1, run.signature, 1)


def test_an_empty_or_unreachable_extracted_side_is_incomplete_never_clean(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    ledger_fixture.execute(pair.extracted, "TRUNCATE ledger_entry, ledger_transaction")
    assert run_once(config).status == "incomplete"
    unconfigured = ReconcileConfig(pair.legacy, None, config.signing_key, 3, None)
    run = run_once(unconfigured)
    assert run.status == "incomplete"
    assert "STRANGLER_RECONCILE_EXTRACTED_URL" in json.dumps(run.manifest)


def test_certificate_passes_after_n_clean_runs_and_a_deleted_run_breaks_the_chain(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    assert parity_evidence("wallets").detail == "no parity certificate"
    ids = [run_once(config).pk for _ in range(2)]
    assert services.certificate("ledger", config=config).verdict is mf.Verdict.INSUFFICIENT
    ids.append(run_once(config).pk)
    cert = services.certificate("ledger", config=config)
    assert cert.verdict is mf.Verdict.PASS and cert.run_ids == tuple(reversed(ids))
    ledger_fixture.execute(pair.extracted, "DELETE FROM ledger_entry WHERE transaction_id = 9 "
                                           "AND leg = 'contra'")
    assert run_once(config).status == "breaks"
    assert services.certificate("ledger", config=config).verdict is mf.Verdict.FAIL
    ReconciliationRun.objects.filter(pk=ids[1]).delete()
    broken = services.certificate("ledger", config=config)
    assert broken.verdict is mf.Verdict.FAIL and "chain is broken" in broken.reason


def test_the_gate_reads_the_certificate(config: ReconcileConfig,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRANGLER_RECONCILE_CERTIFICATE_RUNS", "2")
    monkeypatch.setenv("STRANGLER_RECONCILE_SIGNING_KEY", "gate-key")
    signing = ReconcileConfig.from_environ()
    both = ReconcileConfig(config.legacy_url, config.extracted_url, signing.signing_key, 2, None)
    run_once(both)
    assert parity_evidence("wallets.transactions").verdict is Verdict.INSUFFICIENT
    run_once(both)
    found = parity_evidence("wallets.transactions")
    assert found.verdict is Verdict.OK and found.facts["certificate"]["consecutive_clean"] == 2


def test_finance_workflow_is_audited_and_refuses_skipping_acknowledgement(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_transaction SET reference = 'x' "
                                           "WHERE id = 3")
    run = run_once(config)
    d = run.discrepancies.get(comparison="transactions", column="reference")
    with pytest.raises(InvalidActionError, match="acknowledge it first"):
        services.accept(d.pk, actor="fin", note="fine")
    with pytest.raises(InvalidActionError, match="needs a note"):
        services.acknowledge(d.pk, actor="fin", note="  ")
    services.acknowledge(d.pk, actor="asha", note="looking into it")
    d = services.accept(d.pk, actor="ravi", note="reference rewritten by the backfill; agreed")
    assert d.state == ACCEPTED
    trail = list(DiscrepancyAction.objects.filter(discrepancy=d).values_list(
        "actor", "action", "from_state", "to_state"))
    assert trail == [("asha", "acknowledge", "open", "acknowledged"),
                     ("ravi", "accept", "acknowledged", "accepted")]
    action = DiscrepancyAction.objects.first()
    assert action is not None and action.at is not None
    with pytest.raises(PermissionError):
        action.save()
    with pytest.raises(PermissionError):
        DiscrepancyAction.objects.all().delete()


def test_stored_reports_render_in_every_format_with_the_summary_first(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_transaction SET reference = "
                                           "'<b>x</b>' WHERE id = 3")
    run = run_once(config)
    document = json.loads(reports.render(run, "json"))
    assert list(document) == ["summary", "discrepancies"]
    assert document["summary"]["status"] == "breaks"
    csv_text = reports.render(run, "csv")
    assert csv_text.splitlines()[0].startswith("id,category,comparison,key")
    assert "&lt;b&gt;x&lt;/b&gt;" in reports.render(run, "html")
