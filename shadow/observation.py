"""An observation: one shadowed request, what each side answered, and what differed. Pure data.

Where primary and secondary disagreed (the noise of this request) is kept as
flags ``noise:<generalised path>``: the control plane stores flags as a JSON
list already, so the per-path noise rates of the reports survive the store
without a schema change. ``noise_paths`` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shadow.diff import Difference

NOISE_FLAG = "noise:"
MAX_NOISE_PATHS = 50  # per observation: enough for any real response, bounded for the store


def noise_flags(paths: Iterable[str]) -> frozenset[str]:
    """Flags naming the (generalised) paths where primary and secondary disagreed."""
    return frozenset(NOISE_FLAG + p for p in sorted(set(paths))[:MAX_NOISE_PATHS])


class Outcome(StrEnum):
    MATCH = "match"
    DIFF = "diff"
    CANDIDATE_TIMEOUT = "candidate_timeout"
    CANDIDATE_ERROR = "candidate_error"  # refused the connection, broke the protocol


class EffectParity(StrEnum):
    NOT_APPLICABLE = "n/a"  # a read, or the capability has no dry-run
    PARITY = "parity"
    DIFF = "diff"
    UNKNOWN = "unknown"  # a write whose candidate sent no would-be effects


@dataclass(frozen=True)
class Observation:
    capability: str
    request_id: str
    method: str
    path: str  # without the query string
    observed_at: datetime
    outcome: Outcome
    primary_status: int
    candidate_status: int | None
    primary_latency_ms: float | None
    candidate_latency_ms: float | None
    differences: tuple[Difference, ...] = ()  # real ones: they count against the candidate
    cancelled: tuple[Difference, ...] = ()  # noise the secondary disagreed on too
    accepted: tuple[Difference, ...] = ()  # covered by an unexpired accepted difference
    effects: EffectParity = EffectParity.NOT_APPLICABLE
    flags: frozenset[str] = field(default_factory=frozenset)  # non_json, huge, no_secondary, noise:<path>
    error: str = ""

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.MATCH

    @property
    def compared_with_secondary(self) -> bool:
        """Both candidate and secondary answered: this observation tells the noise rate apart."""
        return self.outcome in (Outcome.MATCH, Outcome.DIFF) and "no_secondary" not in self.flags

    @property
    def noise_paths(self) -> frozenset[str]:
        return frozenset(f[len(NOISE_FLAG):] for f in self.flags if f.startswith(NOISE_FLAG))

    @property
    def plain_flags(self) -> frozenset[str]:
        """The flags without the noise paths (non_json, huge, no_secondary), for counting."""
        return frozenset(f for f in self.flags if not f.startswith(NOISE_FLAG))
