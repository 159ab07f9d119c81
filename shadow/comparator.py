"""From the answers to one copied request to an Observation: diff, cancel noise, accept, check effects.

Pure: the sink (live traffic) and replay (recorded traffic) both call ``observe``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shadow.diff import Difference, Side, compare
from shadow.noise import NoiseModel, cancel, generalise
from shadow.observation import EffectParity, Observation, Outcome, noise_flags
from shadow.rules import CapabilityRules
from shadow.side_effects import Effect, compare_effects

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Request:
    request_id: str
    capability: str
    method: str
    path: str


@dataclass(frozen=True)
class Effects:
    """Side effects of one write: the monolith's actual events and each dry run's would-be events."""

    primary: list[Effect] | None
    candidate: list[Effect] | None
    secondary: list[Effect] | None = None


def observe(request: Request, primary: Side, candidate: Side | None, secondary: Side | None,
            rules: CapabilityRules, noise: NoiseModel, at: datetime, *, error: str = "",
            timed_out: bool = False, effects: Effects | None = None, today: date | None = None
            ) -> Observation:
    """The observation of one request; ``candidate`` is None when it timed out or failed.

    Latency: with a secondary, ``primary_latency_ms`` is the monolith's time as the
    comparator measured it, beside the candidate's (called together, on the same loop, under
    the same load): like for like. The proxy's own measurement of the primary is taken
    on another, lighter path, and a busy comparator inflates only the candidate's side of
    that pair (a CI run on two shared cores saw candidate p99 +1.3 s that was the loop).
    """
    measured = secondary if secondary is not None and secondary.latency_s is not None else primary
    latency = None if measured.latency_s is None else measured.latency_s * 1000
    base = dict(capability=request.capability, request_id=request.request_id, method=request.method,
                path=request.path, observed_at=at, primary_status=primary.status,
                primary_latency_ms=latency)
    if candidate is None:
        outcome = Outcome.CANDIDATE_TIMEOUT if timed_out else Outcome.CANDIDATE_ERROR
        return Observation(outcome=outcome, candidate_status=None, candidate_latency_ms=None,
                           error=error, **base)  # type: ignore[arg-type]
    found = compare(primary, candidate, rules)
    differences = list(found.differences)
    flags = set(found.flags)
    parity = EffectParity.NOT_APPLICABLE
    effect_noise: list[Difference] = []
    if effects is not None and request.method in WRITE_METHODS:
        if effects.primary is None or effects.candidate is None:
            parity = EffectParity.UNKNOWN
        else:
            effect_diffs = compare_effects(effects.primary, effects.candidate, rules)
            if effects.secondary is not None:
                # cancelled below with the response's noise, so they are kept in ``cancelled``
                # (the per-path noise rates count them) rather than dropped here
                effect_noise = compare_effects(effects.primary, effects.secondary, rules)
            parity = EffectParity.DIFF if effect_diffs else EffectParity.PARITY
            differences.extend(effect_diffs)
    if secondary is not None:
        noise_diffs = [*compare(primary, secondary, rules).differences, *effect_noise]
        noise.learn(request.capability, noise_diffs)
        flags |= noise_flags(generalise(d.path) for d in noise_diffs)  # for per-path noise rates
        real, cancelled = cancel(differences, noise_diffs)
    else:
        flags.add("no_secondary")
        real, cancelled = noise.cancel_learned(request.capability, differences)
    accepted = [d for d in real if any(a.covers(d.path, d.kind, today or at.date()) for a in rules.accepted)]
    real = [d for d in real if d not in accepted]
    if parity is EffectParity.DIFF and not any(d.path.startswith("#effects") for d in real):
        parity = EffectParity.PARITY  # every effect difference was noise or accepted
    candidate_ms = None if candidate.latency_s is None else candidate.latency_s * 1000
    return Observation(outcome=Outcome.DIFF if real else Outcome.MATCH, candidate_status=candidate.status,
                       candidate_latency_ms=candidate_ms, differences=tuple(real),
                       cancelled=tuple(cancelled), accepted=tuple(accepted), effects=parity,
                       flags=frozenset(flags), **base)  # type: ignore[arg-type]
