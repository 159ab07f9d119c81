"""An observation: one shadowed request, what each side answered, and what differed. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shadow.diff import Difference


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
    flags: frozenset[str] = field(default_factory=frozenset)  # non_json, huge, no_secondary
    error: str = ""

    @property
    def matched(self) -> bool:
        return self.outcome is Outcome.MATCH
