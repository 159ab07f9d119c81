"""Shared formatting for the renderers."""

from __future__ import annotations

import json
from typing import Any

from shadow.aggregate import Summary


def pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.3f} %"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def noise_rows(summary: Summary, limit: int = 20) -> list[dict[str, Any]]:
    """Per noisy path: how often primary and secondary disagreed, how often the candidate did, the verdict."""
    rates = summary.noise_rates
    return [
        {"capability": r.capability, "path": r.path, "samples": r.samples, "noise_rate": r.noise_rate,
         "candidate_rate": r.candidate_rate,
         "verdict": "counted" if r.candidate and r.counts(rates.relative, rates.absolute) else "noise"}
        for r in rates.noisy()[:limit]
    ]
