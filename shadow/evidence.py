"""Gate evidence from shadow results: sample count, match rate with a Wilson interval, effects, latency.

Pure. The verdict is ``ok`` only when the whole 95 % Wilson interval clears the
threshold; ``failed`` when the whole interval is below it, when a side-effect
difference was seen or when the candidate is slower than allowed; otherwise
(too few samples, or an interval straddling the threshold) ``insufficient`` —
never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shadow.aggregate import Summary

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Thresholds:
    min_match_rate: float = 0.999
    min_samples: int = 1000
    max_latency_delta_ms: float = 50.0  # candidate p99 minus primary p99


@dataclass(frozen=True)
class GateEvidence:
    verdict: str  # ok | failed | insufficient
    detail: str
    facts: dict[str, Any]


def gate_evidence(summary: Summary, thresholds: Thresholds = Thresholds()) -> GateEvidence:
    n, matched = summary.total, summary.matched
    low, high = wilson(matched, n)
    delta = summary.latency_delta_ms("p99")
    facts: dict[str, Any] = {
        "samples": n,
        "matched": matched,
        "match_rate": summary.match_rate,
        "match_rate_interval": [round(low, 6), round(high, 6)],
        "confidence": 0.95,
        "side_effect_diffs": summary.effect_diffs,
        "side_effect_checked": summary.effect_checked,
        "latency_delta_ms": delta,
        "outcomes": dict(summary.outcomes),
        "needs": {
            "match_rate": thresholds.min_match_rate,
            "samples": thresholds.min_samples,
            "latency_delta_ms": thresholds.max_latency_delta_ms,
        },
    }
    if summary.effect_diffs:
        return GateEvidence(
            "failed", f"{summary.effect_diffs} shadowed writes had side-effect differences", facts
        )
    enough = n >= thresholds.min_samples
    # A p99 over a few samples is one slow request: latency is judged on enough samples only.
    # The match rate's interval accounts for n itself, so a clearly failing candidate fails early.
    if enough and delta is not None and delta > thresholds.max_latency_delta_ms:
        return GateEvidence(
            "failed",
            f"candidate p99 is {delta:.1f} ms slower than the monolith "
            f"(allowed {thresholds.max_latency_delta_ms:g} ms)",
            facts,
        )
    if not enough and high >= thresholds.min_match_rate:
        return GateEvidence("insufficient", f"{n} shadow samples, {thresholds.min_samples} needed", facts)
    if high < thresholds.min_match_rate:
        return GateEvidence(
            "failed",
            f"match rate {summary.match_rate:.4%} (95 % CI {low:.4%} to {high:.4%}) "
            f"is below {thresholds.min_match_rate:.2%}",
            facts,
        )
    if low < thresholds.min_match_rate:
        return GateEvidence(
            "insufficient",
            f"match rate 95 % CI {low:.4%} to {high:.4%} straddles "
            f"{thresholds.min_match_rate:.2%}: more samples needed",
            facts,
        )
    return GateEvidence(
        "ok", f"match rate {summary.match_rate:.4%} over {n} samples (95 % CI from {low:.4%})", facts
    )
