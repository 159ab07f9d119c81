"""Reports: JSON carries the certificate inputs summary-first; CSV has a line per difference."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from reconcile.compare import ColumnDiff, Discrepancy
from reconcile.report import to_csv, to_json
from reconcile.result import RunResult, SideSummary


def a_result() -> RunResult:
    result = RunResult("ledger", "transactions", "ledger.toml", "abc123",
                       datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
                       SideSummary(3, "00000000000000aa"), SideSummary(2, "00000000000000bb"))
    result.discrepancies = [
        Discrepancy("missing_in_extracted", (1,), False, (), 1, 0),
        Discrepancy("mismatch", (2,), False, (ColumnDiff("amount", "1.00", "1.01", "0.01"),
                                              ColumnDiff("reference", "null", None, None)), 1, 1),
        Discrepancy("missing_in_legacy", (9,), True, (), 0, 1),
    ]
    return result


def test_json_summary_has_status_counts_checksums_and_mapping_hash() -> None:
    document = json.loads(to_json(a_result()))
    assert list(document) == ["summary", "discrepancies"]
    summary = document["summary"]
    assert summary["status"] == "breaks"
    assert summary["mapping"]["version_hash"] == "abc123"
    assert (summary["legacy"]["rows"], summary["extracted"]["checksum"]) == (3, "00000000000000bb")
    assert (summary["breaks"], summary["pending"]) == (2, 1)
    assert document["discrepancies"]["mismatch"][0]["columns"][1]["extracted"] is None


def test_csv_has_one_line_per_column_difference_and_per_missing_row() -> None:
    lines = list(csv.DictReader(io.StringIO(to_csv(a_result()))))
    assert [(r["category"], r["key"], r["column"]) for r in lines] == [
        ("missing_in_extracted", "1", ""), ("mismatch", "2", "amount"),
        ("mismatch", "2", "reference"), ("missing_in_legacy", "9", "")]
    assert lines[1]["difference"] == "0.01" and lines[3]["pending"] == "true"
