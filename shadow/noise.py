"""Noise cancellation, as Diffy does: what primary and secondary disagree on is not the candidate's fault.

Pure. Per request: a candidate difference at a path where the secondary (a second
primary instance answering the same copy) also differs is cancelled. Across
requests: a ``NoiseModel`` learns, per capability and generalised path, how often
the secondary differs, so copies without a secondary answer are still cleaned of
paths known to be noisy (timestamps, generated ids).

Across a report: ``NoiseRates`` does what Diffy does per field. Per capability and
generalised path it counts, over the observations that had a secondary answer, how
often primary and secondary disagreed there (the noise rate) and how often primary
and candidate did (the candidate rate). At a path where the secondary never
disagreed every candidate difference counts, as before. At a noisy path, the
candidate's differences count only when its rate exceeds the noise rate by Diffy's
two thresholds (relative and absolute, in percent); otherwise they are noise too.
Per-request cancellation alone cannot do this: a field that is random on every
instance differs from the candidate in requests where the secondary happened to
agree, and those would count against the candidate.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from shadow.diff import Difference
from shadow.observation import EffectParity, Observation, Outcome

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


RELATIVE_THRESHOLD = 20.0  # percent: |candidate - noise| / (candidate + noise), Diffy's default
ABSOLUTE_THRESHOLD = 0.03  # percent: |candidate - noise| / samples, Diffy's default


@dataclass(frozen=True)
class PathRate:
    """One field of one capability: how often each side differed from the primary there."""

    capability: str
    path: str  # generalised
    samples: int  # observations with a secondary answer
    noise: int  # ... where the secondary differed at exactly this path
    candidate: int  # ... where the candidate did (cancelled per request or not)

    @property
    def noise_rate(self) -> float:
        return self.noise / self.samples if self.samples else 0.0

    @property
    def candidate_rate(self) -> float:
        return self.candidate / self.samples if self.samples else 0.0

    def counts(self, relative: float = RELATIVE_THRESHOLD, absolute: float = ABSOLUTE_THRESHOLD) -> bool:
        """Whether candidate differences here count against it (always, where there is no noise)."""
        if self.noise == 0:
            return True
        excess = self.candidate - self.noise
        return (excess > 0 and excess / (self.candidate + self.noise) * 100 > relative
                and excess / self.samples * 100 > absolute)


@dataclass(frozen=True)
class NoiseRates:
    """Per (capability, generalised path) rates over a set of observations; see the module docstring."""

    rates: dict[tuple[str, str], PathRate]
    relative: float = RELATIVE_THRESHOLD
    absolute: float = ABSOLUTE_THRESHOLD

    def noisy(self) -> list[PathRate]:
        """Paths where the secondary disagreed at least once, noisiest first."""
        found = [r for r in self.rates.values() if r.noise]
        return sorted(found, key=lambda r: (-r.noise_rate, r.capability, r.path))

    def counts(self, capability: str, path: str) -> bool:
        rate = self.rates.get((capability, generalise(path)))
        return rate is None or rate.counts(self.relative, self.absolute)

    def apply(self, observation: Observation) -> Observation:
        """``observation`` with its differences at paths judged noise moved to ``cancelled``."""
        if not observation.differences:
            return observation
        real = [d for d in observation.differences if self.counts(observation.capability, d.path)]
        if len(real) == len(observation.differences):
            return observation
        noise = [d for d in observation.differences if d not in real]
        effects = observation.effects
        if effects is EffectParity.DIFF and not any(d.path.startswith("#effects") for d in real):
            effects = EffectParity.PARITY
        return replace(observation, differences=tuple(real), cancelled=observation.cancelled + tuple(noise),
                       outcome=Outcome.DIFF if real else Outcome.MATCH, effects=effects)


def noise_rates(observations: Iterable[Observation], relative: float = RELATIVE_THRESHOLD,
                absolute: float = ABSOLUTE_THRESHOLD) -> NoiseRates:
    """Per capability and noisy path: noise and candidate differences, over observations with a secondary.

    Paths are exact (generalised) field paths, as in Diffy: a secondary that lost a
    whole container (``#effects/<type>`` missing in a replayed write) makes that
    container noisy, not every field a candidate may get wrong inside it elsewhere.
    Only paths the secondary ever disagreed on get a rate: elsewhere every candidate
    difference counts anyway.
    """
    with_secondary = [o for o in observations if o.compared_with_secondary]
    samples: dict[str, int] = defaultdict(int)
    noisy: dict[str, set[str]] = defaultdict(set)
    for obs in with_secondary:
        samples[obs.capability] += 1
        noisy[obs.capability] |= obs.noise_paths
    noise: dict[tuple[str, str], int] = defaultdict(int)
    candidate: dict[tuple[str, str], int] = defaultdict(int)
    for obs in with_secondary:
        for path in obs.noise_paths:
            noise[(obs.capability, path)] += 1
        differing = {generalise(d.path) for d in (*obs.differences, *obs.cancelled)}
        for path in differing & noisy[obs.capability]:
            candidate[(obs.capability, path)] += 1
    rates = {(cap, path): PathRate(cap, path, samples[cap], noise[(cap, path)], candidate[(cap, path)])
             for cap, paths in noisy.items() for path in paths}
    return NoiseRates(rates, relative, absolute)
