"""Reports of a stored run: JSON (summary first), CSV (one line per discrepancy row), HTML."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reconcile import html
from strangler.control.reconciliation.models import ReconciliationRun

FORMATS = ("json", "csv", "html")


def summary(run: ReconciliationRun) -> dict[str, Any]:
    """The run's manifest plus what only the database knows (id, error, sign-off states)."""
    base = dict(run.manifest or {
        "capability": run.capability, "status": run.status,
        "mapping": {"source": run.mapping_source, "version_hash": run.mapping_hash},
        "comparisons": list(run.checkpoint.get("done", {}).values())})
    return {**base, "run_id": run.pk, "status": run.status, "error": run.error,
            "signature": run.signature, "counts": run.counts}


def discrepancies(run: ReconciliationRun) -> list[dict[str, Any]]:
    return [{"id": d.pk, "category": d.category, "comparison": d.comparison, "key": d.key,
             "column": d.column, "legacy": d.legacy_value, "extracted": d.extracted_value,
             "difference": d.difference, "pending": d.pending, "wallet": d.wallet_id,
             "day": d.day.isoformat() if d.day else None, "state": d.state}
            for d in run.discrepancies.order_by("comparison", "category", "key", "column")]


def render(run: ReconciliationRun, fmt: str) -> str:
    rows = discrepancies(run)
    if fmt == "json":
        return json.dumps({"summary": summary(run), "discrepancies": rows}, indent=2, default=str)
    if fmt == "csv":
        out = io.StringIO()
        fields = ["id", *html.COLUMNS, "pending"]
        writer = csv.DictWriter(out, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "html":
        return html.render(summary(run), rows)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
