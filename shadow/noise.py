"""Noise cancellation, as Diffy does: what primary and secondary disagree on is not the candidate's fault.

Pure. Per request: a candidate difference at a path where the secondary (a second
primary instance answering the same copy) also differs is cancelled. Across
requests: a ``NoiseModel`` learns, per capability and generalised path, how often
the secondary differs, so copies without a secondary answer are still cleaned of
paths known to be noisy (timestamps, generated ids).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from shadow.diff import Difference

_INDEX = re.compile(r"/(?:\d+|[^/=]+=[^/]*)(?=/|$)")


def generalise(path: str) -> str:
    """``/results/3/amount`` and ``/results/id=7/amount`` -> ``/results/*/amount`` (for grouping)."""
    return _INDEX.sub("/*", path)


def _covered(path: str, noisy: set[str]) -> bool:
    if path in noisy:
        return True
    return any(path.startswith(n + "/") for n in noisy)


def cancel(
    candidate: Sequence[Difference], secondary: Sequence[Difference]
) -> tuple[list[Difference], list[Difference]]:
    """(real, cancelled): candidate differences at (or under) a path where the secondary differs too."""
    noisy = {d.path for d in secondary}
    real: list[Difference] = []
    cancelled: list[Difference] = []
    for difference in candidate:
        (cancelled if _covered(difference.path, noisy) else real).append(difference)
    return real, cancelled


@dataclass
class NoiseModel:
    """Per (capability, generalised path): how often the secondary disagreed with the primary."""

    min_hits: int = 3
    min_rate: float = 0.1
    compared: dict[str, int] = field(default_factory=dict)  # capability -> copies with a secondary
    hits: dict[tuple[str, str], int] = field(default_factory=dict)

    def learn(self, capability: str, secondary: Sequence[Difference]) -> None:
        self.compared[capability] = self.compared.get(capability, 0) + 1
        for path in {generalise(d.path) for d in secondary}:
            self.hits[(capability, path)] = self.hits.get((capability, path), 0) + 1

    def noisy_paths(self, capability: str) -> set[str]:
        seen = self.compared.get(capability, 0)
        return {
            path
            for (cap, path), hits in self.hits.items()
            if cap == capability and hits >= self.min_hits and hits / max(seen, 1) >= self.min_rate
        }

    def cancel_learned(
        self, capability: str, candidate: Sequence[Difference]
    ) -> tuple[list[Difference], list[Difference]]:
        noisy = self.noisy_paths(capability)
        real: list[Difference] = []
        cancelled: list[Difference] = []
        for difference in candidate:
            (cancelled if _covered(generalise(difference.path), noisy) else real).append(difference)
        return real, cancelled
