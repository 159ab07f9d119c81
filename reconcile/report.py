"""Reports of a run: JSON (everything, summary first) and CSV (one line per column difference).

The JSON document is the record a later manifest or certificate is built from: it
carries the mapping's version hash, both sides' row counts and checksums, and the
status. No I/O beyond writing the file the caller names.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from reconcile.compare import CATEGORIES
from reconcile.result import RunResult

CSV_FIELDS = ("category", "pending", "key", "column", "legacy", "extracted", "difference",
              "legacy_count", "extracted_count")


def to_dict(result: RunResult) -> dict[str, Any]:
    by_category: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
    for d in result.discrepancies:
        by_category[d.category].append({
            "key": list(d.key), "pending": d.pending,
            "legacy_count": d.legacy_count, "extracted_count": d.extracted_count,
            "columns": [{"column": c.column, "legacy": c.legacy, "extracted": c.extracted,
                         "difference": c.difference} for c in d.columns]})
    return {
        "summary": {
            "capability": result.capability,
            "comparison": result.comparison,
            "status": result.status,
            "mapping": {"source": result.mapping_source, "version_hash": result.mapping_hash},
            "started_at": result.started_at.isoformat(),
            "finished_at": result.finished_at.isoformat() if result.finished_at else None,
            "legacy": vars(result.legacy),
            "extracted": vars(result.extracted),
            "breaks": len(result.breaks),
            "pending": len(result.pending),
            "by_category": result.counts(),
            "incomplete_reasons": result.incomplete_reasons,
            "stats": vars(result.stats),
        },
        "discrepancies": by_category,
    }


def to_json(result: RunResult) -> str:
    return json.dumps(to_dict(result), indent=2, default=str)


def to_csv(result: RunResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for d in result.discrepancies:
        key = "|".join(str(k) for k in d.key)
        base = [d.category, str(d.pending).lower(), key]
        counts = [d.legacy_count, d.extracted_count]
        if not d.columns:
            writer.writerow([*base, "", "", "", "", *counts])
        for c in d.columns:
            writer.writerow([*base, c.column, c.legacy, c.extracted, c.difference or "", *counts])
    return out.getvalue()


def write_reports(result: RunResult, folder: Path | str) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result.capability}-{result.comparison}-{result.started_at:%Y%m%dT%H%M%S}"
    paths = [folder / f"{stem}.json", folder / f"{stem}.csv"]
    paths[0].write_text(to_json(result), encoding="utf-8")
    paths[1].write_text(to_csv(result), encoding="utf-8")
    return paths
