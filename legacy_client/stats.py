"""Latency statistics and the request mix of a load run (pure: no I/O)."""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

OPERATIONS = ("balance", "history", "history_page_2", "wallet_detail", "credit", "debit")


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating linearly (like numpy)."""
    if not ordered:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Mix:
    """Relative weights of the operations a simulated client performs (reads dominate)."""

    balance: float = 40
    history: float = 25
    history_page_2: float = 10
    wallet_detail: float = 5
    credit: float = 12
    debit: float = 8

    def __post_init__(self) -> None:
        weights = self.weights()
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"mix weights must be >= 0 with a positive sum, got {self}")

    def weights(self) -> list[float]:
        return [float(getattr(self, name)) for name in OPERATIONS]


class MixChooser:
    """Draws operations in proportion to a :class:`Mix`; deterministic for a given rng."""

    def __init__(self, mix: Mix, rng: random.Random) -> None:
        self._cumulative = list(accumulate(mix.weights()))
        self._rng = rng

    def __call__(self) -> str:
        point = self._rng.random() * self._cumulative[-1]
        return OPERATIONS[bisect.bisect_right(self._cumulative, point)]


@dataclass(frozen=True)
class LatencySummary:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def summarise(latencies_s: Sequence[float], errors: int) -> LatencySummary:
    ordered = sorted(latencies_s)
    return LatencySummary(
        requests=len(ordered), errors=errors,
        p50_ms=percentile(ordered, 50) * 1000, p95_ms=percentile(ordered, 95) * 1000,
        p99_ms=percentile(ordered, 99) * 1000)
