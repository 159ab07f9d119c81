"""Aggregation of observations: match rate, outcomes, differences grouped by capability x path x kind.

Pure. Paths are generalised (``/results/3/amount`` -> ``/results/*/amount``) so one
bug is one group however many items it touches. Each group keeps a bounded
number of redacted samples. Latencies are summarised as p50/p95/p99 per side.
Before counting, ``shadow.noise.noise_rates`` judges each noisy path over the whole
set (Diffy's rule): candidate differences at a path whose rate does not exceed the
noise rate there become noise, so the match rate counts only what is the candidate's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shadow.noise import NoiseRates, generalise, noise_rates
from shadow.observation import EffectParity, Observation, Outcome
from shadow.redact import redact

MAX_SAMPLES = 5


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Group:
    capability: str
    path: str
    kind: str
    count: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Summary:
    total: int = 0
    matched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    groups: dict[tuple[str, str, str], Group] = field(default_factory=dict)
    noise: Counter[str] = field(default_factory=Counter)  # generalised path -> cancelled differences
    accepted: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    effect_checked: int = 0
    effect_diffs: int = 0
    primary_ms: list[float] = field(default_factory=list)
    candidate_ms: list[float] = field(default_factory=list)
    timeline: dict[datetime, list[int]] = field(default_factory=dict)  # bucket -> [matched, total]
    capabilities: set[str] = field(default_factory=set)
    noise_rates: NoiseRates = field(default_factory=lambda: NoiseRates({}))

    @property
    def match_rate(self) -> float | None:
        return self.matched / self.total if self.total else None

    def latency(self) -> dict[str, dict[str, float | None]]:
        primary, candidate = sorted(self.primary_ms), sorted(self.candidate_ms)
        return {q: {"primary": percentile(primary, n), "candidate": percentile(candidate, n)}
                for q, n in (("p50", 50), ("p95", 95), ("p99", 99))}

    def latency_delta_ms(self, q: str) -> float | None:
        row = self.latency()[q]
        if row["primary"] is None or row["candidate"] is None:
            return None
        return row["candidate"] - row["primary"]

    def top_groups(self, limit: int = 20) -> list[Group]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.capability, g.path, g.kind))[:limit]


def bucket_of(at: datetime, width: timedelta) -> datetime:
    seconds = width.total_seconds()
    stamp = at.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=at.tzinfo)


def aggregate(observations: Iterable[Observation], bucket: timedelta = timedelta(hours=1),
              max_samples: int = MAX_SAMPLES, rates: NoiseRates | None = None) -> Summary:
    """Count and group ``observations``; ``rates`` (default: from these observations) judges noisy paths."""
    observations = list(observations)
    summary = Summary(noise_rates=rates if rates is not None else noise_rates(observations))
    for obs in map(summary.noise_rates.apply, observations):
        summary.total += 1
        summary.capabilities.add(obs.capability)
        summary.outcomes[str(obs.outcome)] += 1
        summary.matched += obs.matched
        slot = summary.timeline.setdefault(bucket_of(obs.observed_at, bucket), [0, 0])
        slot[0] += obs.matched
        slot[1] += 1
        summary.flags.update(obs.plain_flags)
        if obs.effects in (EffectParity.PARITY, EffectParity.DIFF):
            summary.effect_checked += 1
            summary.effect_diffs += obs.effects is EffectParity.DIFF
        if obs.outcome in (Outcome.MATCH, Outcome.DIFF):
            if obs.primary_latency_ms is not None and obs.candidate_latency_ms is not None:
                summary.primary_ms.append(obs.primary_latency_ms)
                summary.candidate_ms.append(obs.candidate_latency_ms)
        else:
            key = (obs.capability, "#candidate", str(obs.outcome))
            _add(summary, key, obs, None, max_samples)
        for difference in obs.cancelled:
            summary.noise[generalise(difference.path)] += 1
        for difference in obs.accepted:
            summary.accepted[generalise(difference.path)] += 1
        seen: set[tuple[str, str, str]] = set()
        for difference in obs.differences:
            key = (obs.capability, generalise(difference.path), difference.kind)
            if key not in seen:  # a group counts requests, not array items
                seen.add(key)
                _add(summary, key, obs, difference, max_samples)
    return summary


def _add(summary: Summary, key: tuple[str, str, str], obs: Observation, difference: Any,
         max_samples: int) -> None:
    group = summary.groups.get(key)
    if group is None:
        group = summary.groups[key] = Group(*key)
    group.count += 1
    if len(group.samples) < max_samples:
        group.samples.append(sample_of(obs, difference))


def sample_of(obs: Observation, difference: Any) -> dict[str, Any]:
    """A redacted sample: which request, where, and both values."""
    sample: dict[str, Any] = {"request_id": obs.request_id, "method": obs.method,
                              "path": redact(obs.path), "at": obs.observed_at.isoformat()}
    if difference is not None:
        sample.update(where=difference.path, primary=redact(difference.primary, difference.path),
                      candidate=redact(difference.candidate, difference.path), note=difference.note)
    else:
        sample.update(error=redact(obs.error))
    return sample
