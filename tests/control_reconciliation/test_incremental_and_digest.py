"""Incremental nights in the control plane, and discrepancy rows bound to the signed manifest."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from reconcile import manifest as mf
from reconcile.bootstrap import run_comparison
from reconcile.engine import Options
from strangler.control.reconciliation import services
from strangler.control.reconciliation.config import ReconcileConfig
from strangler.control.reconciliation.models import ReconciliationRun, SegmentBaseline
from tests.reconcile import ledger_fixture
from tests.reconcile.conftest import LedgerPair

pytestmark = pytest.mark.django_db(databases=["control"])


def run_once(config: ReconcileConfig, full: bool = False) -> ReconciliationRun:
    run = services.start_run("ledger", requested_by="tester", full=full)
    return services.execute_run(run.pk, config=config)


def coverage(run: ReconciliationRun, name: str = "transactions") -> dict[str, Any]:
    entry = next(c for c in manifest(run)["comparisons"] if c["name"] == name)
    return dict(entry["coverage"])


def manifest(run: ReconciliationRun) -> dict[str, Any]:
    assert run.manifest is not None
    return dict(run.manifest)


def test_nights_alternate_full_and_incremental_and_a_change_is_still_found(
        pair: LedgerPair, config: ReconcileConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    # 600 rows: segments of 50 so that a change dirties one segment of twelve, not the table.
    monkeypatch.setattr(services, "run_comparison",
                        partial(run_comparison, options=Options(segment_rows=50)))
    first = run_once(config)  # certificate_runs = 3, so one run in three is full
    assert coverage(first)["mode"] == "full" and manifest(first)["coverage"]["mode"] == "full"
    second = run_once(config)
    assert second.status == "clean"
    for name in ("transactions", "entries"):
        assert coverage(second, name)["mode"] == "incremental"
        assert coverage(second, name)["basis"] == str(first.pk)
        assert coverage(second, name)["rechecked"] == 0
    assert manifest(second)["coverage"] == {**manifest(first)["coverage"], "mode": "incremental"}
    assert [c["legacy"] for c in manifest(second)["comparisons"]] == \
        [c["legacy"] for c in manifest(first)["comparisons"]]
    # An UPDATE that keeps the row count, and a DELETE, in segments kept clean last night.
    ledger_fixture.execute(pair.legacy, "UPDATE wallets_transaction SET reference = 'late' "
                                        "WHERE id = 250")
    ledger_fixture.execute(pair.extracted, "DELETE FROM ledger_transaction WHERE id = 100")
    third = run_once(config)
    assert coverage(third)["mode"] == "incremental", coverage(third)["reason"]
    assert third.status == "breaks" and 0 < coverage(third)["rechecked"] <= 2
    assert set(third.discrepancies.filter(comparison="transactions")
               .values_list("category", "key")) == {("mismatch", "250"),
                                                    ("missing_in_extracted", "100")}
    fourth = run_once(config)  # runs 2 and 3 were incremental: this one reads every row
    assert coverage(fourth)["mode"] == "full" and "FULL_EVERY" in coverage(fourth)["reason"]
    assert fourth.status == "breaks"


def test_a_pass_needs_a_full_run_in_the_streak_and_full_can_be_requested(
        config: ReconcileConfig) -> None:
    run_once(config)
    run_once(config)
    run_once(config)
    assert services.certificate("ledger", config=config).verdict is mf.Verdict.PASS
    forced = run_once(config, full=True)
    assert coverage(forced)["mode"] == "full"
    assert coverage(forced)["reason"] == "a full run was requested"


def test_kept_segments_edited_after_signing_are_not_trusted(config: ReconcileConfig) -> None:
    first = run_once(config)
    kept = SegmentBaseline.objects.get(run=first, comparison="transactions")
    kept.data["segments"][0][3] += 1  # claim another row count for a segment
    kept.save()
    second = run_once(config)
    assert coverage(second)["mode"] == "full"
    assert "do not match its signed manifest" in coverage(second)["reason"]
    assert coverage(second, "entries")["mode"] == "incremental"


def test_an_altered_or_deleted_discrepancy_row_breaks_verification_sign_off_does_not(
        pair: LedgerPair, config: ReconcileConfig) -> None:
    ledger_fixture.execute(pair.extracted, "UPDATE ledger_transaction SET reference = 'x' "
                                           "WHERE id IN (3, 4)")
    run = run_once(config)
    assert run.manifest is not None
    assert run.manifest["discrepancies"]["count"] == run.discrepancies.count() > 0
    assert services.verify("ledger", config=config) == []
    row = run.discrepancies.get(comparison="transactions", key="3", column="reference")
    services.acknowledge(row.pk, actor="asha", note="looking")  # state is not evidence
    assert services.verify("ledger", config=config) == []

    run.discrepancies.filter(pk=row.pk).update(extracted_value="ref-3")
    problems = services.verify("ledger", config=config)
    assert len(problems) == 1 and "discrepancy rows changed" in problems[0]
    cert = services.certificate("ledger", config=config)
    assert cert.verdict is mf.Verdict.FAIL and "discrepancy rows changed" in cert.reason

    run.discrepancies.filter(pk=row.pk).update(extracted_value="x")
    assert services.verify("ledger", config=config) == []
    other = run.discrepancies.get(comparison="transactions", key="4", column="reference")
    other.delete()
    assert "recorded" in services.verify("ledger", config=config)[0]
