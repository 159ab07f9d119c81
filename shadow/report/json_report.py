"""The JSON report: everything in the Summary, machine-readable."""

from __future__ import annotations

import json
from dataclasses import asdict

from shadow.aggregate import Summary
from shadow.evidence import GateEvidence
from shadow.report.common import noise_rows


def as_dict(
    summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None
) -> dict[str, object]:
    return {
        "title": title,
        "capabilities": sorted(summary.capabilities),
        "total": summary.total,
        "matched": summary.matched,
        "match_rate": summary.match_rate,
        "fail_under": fail_under,
        "outcomes": dict(summary.outcomes),
        "flags": dict(summary.flags),
        "side_effects": {"checked": summary.effect_checked, "diffs": summary.effect_diffs},
        "latency_ms": summary.latency(),
        "differences": [asdict(g) for g in summary.top_groups(100)],
        "noise_cancelled": dict(summary.noise),
        "noise_rates": noise_rows(summary, 100),
        "accepted": dict(summary.accepted),
        "timeline": [
            {"at": at.isoformat(), "matched": m, "total": t}
            for at, (m, t) in sorted(summary.timeline.items())
        ],
        "evidence": asdict(evidence),
    }


def render(summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None) -> str:
    return json.dumps(as_dict(summary, evidence, title, fail_under), indent=2, default=str) + "\n"
