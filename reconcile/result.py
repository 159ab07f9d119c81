"""What a reconciliation run produced: the evidence a report or certificate is built from.

A run is ``clean`` only when both sides were read completely, neither was empty and
no break remains; ``incomplete`` whenever a side was empty, unreadable or not fully
read; ``breaks`` otherwise. Pending discrepancies (inside the lag window after the
end-of-run recheck) are listed apart and do not by themselves make a break.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from reconcile.compare import Discrepancy
from reconcile.incremental import Baseline, Coverage

CLEAN, BREAKS, INCOMPLETE = "clean", "breaks", "incomplete"


@dataclass
class SideSummary:
    rows: int = 0
    checksum: str = ""  # 16 hex digits: sum of all row hashes mod 2**64
    error: str | None = None


@dataclass
class RunStats:
    levels: int = 0
    segments_compared: int = 0
    segments_fetched: int = 0
    rows_fetched: int = 0
    queries: int = 0
    seconds: float = 0.0


@dataclass
class RunResult:
    capability: str
    comparison: str
    mapping_source: str
    mapping_hash: str
    started_at: datetime
    finished_at: datetime | None = None
    legacy: SideSummary = field(default_factory=SideSummary)
    extracted: SideSummary = field(default_factory=SideSummary)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    incomplete_reasons: list[str] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)
    coverage: Coverage = field(default_factory=Coverage)
    baseline: Baseline | None = None  # clean first-level segments kept for the next run

    @property
    def breaks(self) -> list[Discrepancy]:
        return [d for d in self.discrepancies if not d.pending]

    @property
    def pending(self) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.pending]

    @property
    def status(self) -> str:
        if self.incomplete_reasons:
            return INCOMPLETE
        return BREAKS if self.breaks else CLEAN

    def counts(self) -> dict[str, int]:
        counter = Counter(("pending:" if d.pending else "") + d.category
                          for d in self.discrepancies)
        return dict(sorted(counter.items()))
