"""The checksum-and-bisect engine: find every differing row without moving the tables.

Both sides compute (count, checksum) for many key-range segments in one grouped
query each, concurrently; only segments whose checksums differ are split and
rechecked; segments that are small (or cannot be split) have their rows fetched
and compared row by row. Discrepancies inside the lag window are rechecked once
at the end of the run. The engine talks to each side through :class:`SideReader`
(real one: ``reconcile.adapters.postgres.PostgresSide``); the planning and row
comparison it drives are pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from reconcile.check import CheckedComparison
from reconcile.compare import ColumnRule, Discrepancy, Row, compare_rows
from reconcile.errors import SideUnavailableError
from reconcile.result import RunResult, RunStats
from reconcile.segments import Checksum, Segment, classify, split_at, split_int
from reconcile.sql import Key

T = TypeVar("T")


class SideReader(Protocol):
    """One database's view of a comparison. Raises SideUnavailableError when unreadable."""

    name: str

    def estimate_rows(self) -> int: ...

    def bounds(self) -> tuple[Key, Key] | None: ...

    def checksums(self, parents: Sequence[Segment],
                  children: Sequence[Segment]) -> dict[int, Checksum]: ...

    def sample(self, parents: Sequence[Segment], steps: Sequence[int]) -> list[list[Key]]: ...

    def rows(self, ranges: Sequence[Segment]) -> list[Row]: ...

    def refresh(self) -> None:
        """End the current snapshot so the next read sees newer commits."""


@dataclass(frozen=True)
class Options:
    segment_rows: int = 1000  # target rows per first-level segment
    max_segments: int = 65536  # cap on first-level segments
    fanout: int = 16  # children per split segment
    leaf_rows: int = 64  # at most this many rows on both sides: fetch instead of splitting
    batch_ranges: int = 5000  # ranges per query when descending or fetching


def _checksums(side: SideReader, parents: Sequence[Segment],
               children: Sequence[Segment]) -> dict[int, Checksum]:
    return side.checksums(parents, children)


def _rows(side: SideReader, ranges: Sequence[Segment]) -> list[Row]:
    return side.rows(ranges)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Engine:
    clock: Callable[[], datetime] = staticmethod(now_utc)  # test seam for the lag window

    def __init__(self, checked: CheckedComparison, legacy: SideReader, extracted: SideReader,
                 options: Options | None = None,
                 before_recheck: Callable[[], None] | None = None) -> None:
        self.checked = checked
        self.legacy = legacy
        self.extracted = extracted
        self.options = options or Options()
        self.before_recheck = before_recheck  # test seam: change data between pass and recheck
        comparison = checked.comparison
        self.rules = [ColumnRule(c.name, checked.kinds[c.name].kind, c.tolerance)
                      for c in comparison.columns]
        self.int_key = checked.key_kinds == ("int",)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile")
        self._counts: dict[Segment, int] = {}  # rows per segment last level, for sampling

    def both(self, call: Callable[[SideReader], T]) -> tuple[T, T]:
        """Run ``call`` on both sides concurrently (two connections, two server processes)."""
        futures = [self._pool.submit(call, side) for side in (self.legacy, self.extracted)]
        return futures[0].result(), futures[1].result()

    def run(self) -> RunResult:
        comparison = self.checked.comparison
        result = RunResult(self.checked.capability, comparison.name, self.checked.source,
                           self.checked.mapping_hash, self.clock())
        started = time.perf_counter()
        try:
            self._run(result)
        except SideUnavailableError as exc:
            result.incomplete_reasons.append(str(exc))
            getattr(result, exc.side if exc.side in ("legacy", "extracted") else "legacy"
                    ).error = exc.reason
        finally:
            self._pool.shutdown(wait=True)
            result.finished_at = self.clock()
            result.stats.seconds = time.perf_counter() - started
        return result

    def _run(self, result: RunResult) -> None:
        stats = result.stats
        bounds = self.both(lambda side: side.bounds())
        stats.queries += 2
        present = [b for b in bounds if b is not None]
        for side, found in zip(("legacy", "extracted"), bounds, strict=True):
            if found is None:
                result.incomplete_reasons.append(f"the {side} side has no rows")
        if len(present) < 2:
            # Every row would be a discrepancy: that is a failed load or a wrong database,
            # not a list worth bisecting. The run says so and stops.
            return
        root = Segment(min(b[0] for b in present), max(b[1] for b in present), True)
        estimate = max(self.both(lambda side: side.estimate_rows()))
        stats.queries += 2
        first = max(1, min(self.options.max_segments, estimate // self.options.segment_rows))
        children = self._split([root], first)
        leaves: list[Segment] = []
        totals = [(0, 0), (0, 0)]
        parents = [root]
        while children:
            stats.levels += 1
            flat = [c for group in children for c in group]
            sums = self._checksums(parents, children, stats)
            if stats.levels == 1:
                totals = [(sum(n for n, _ in s.values()), sum(h for _, h in s.values()))
                          for s in sums]
            splittable = {c: len(group) > 1 or c != parents[i]
                          for i, group in enumerate(children) for c in group}
            verdict = classify(flat, sums[0], sums[1], self.options.leaf_rows, splittable)
            stats.segments_compared += len(flat)
            leaves += verdict.fetch
            parents = verdict.descend
            children = self._split(parents, self.options.fanout) if parents else []
        for summary, (count, total) in zip((result.legacy, result.extracted), totals, strict=True):
            summary.rows = count
            summary.checksum = f"{total % (1 << 64):016x}"
        stats.segments_fetched = len(leaves)
        result.discrepancies = self._compare(leaves, stats)
        if any(d.pending for d in result.discrepancies):
            self._recheck(result)

    def _split(self, parents: Sequence[Segment], parts: int) -> list[list[Segment]]:
        if self.int_key:
            return [split_int(p, parts) for p in parents]
        # Text or composite keys: boundaries from keys sampled on both sides, so a range
        # one side lacks entirely still gets split by the other side's keys.
        steps = [max(1, self._counts.get(p, 1 << 20) // parts) for p in parents]
        samples = self.both(lambda side: side.sample(parents, steps))
        return [split_at(p, samples[0][i] + samples[1][i], parts) for i, p in enumerate(parents)]

    def _checksums(self, parents: Sequence[Segment], children: Sequence[Sequence[Segment]],
                   stats: RunStats) -> tuple[dict[int, Checksum], dict[int, Checksum]]:
        """Checksums of all children, keyed by 1-based position in the flattened list."""
        out: tuple[dict[int, Checksum], dict[int, Checksum]] = ({}, {})
        batch = self.options.batch_ranges
        offset = 0
        for start in range(0, len(parents), batch):
            group = parents[start:start + batch]
            members = [c for kids in children[start:start + batch] for c in kids]
            sums = self.both(partial(_checksums, parents=group, children=members))
            stats.queries += 2
            for side_out, side_sums in zip(out, sums, strict=True):
                for bucket, value in side_sums.items():
                    side_out[bucket + offset] = value
            offset += len(members)
        flat = [c for kids in children for c in kids]
        self._counts = {c: max(out[0].get(i, (0, 0))[0], out[1].get(i, (0, 0))[0])
                        for i, c in enumerate(flat, start=1)}
        return out

    def _compare(self, ranges: Sequence[Segment], stats: RunStats) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        cutoff = self._cutoff()
        batch = self.options.batch_ranges
        for start in range(0, len(ranges), batch):
            group = ranges[start:start + batch]
            rows = self.both(partial(_rows, ranges=group))
            stats.rows_fetched += sum(map(len, rows))
            stats.queries += 2
            found += compare_rows(rows[0], rows[1], self.rules, cutoff)
        return found

    def _cutoff(self) -> datetime | None:
        lag = self.checked.comparison.lag_window
        return self.clock() - lag if lag else None

    def _recheck(self, result: RunResult) -> None:
        """Fetch the pending keys again; what still differs outside the window is a break."""
        if self.before_recheck is not None:
            self.before_recheck()
        self.both(lambda side: side.refresh())
        pending = [d for d in result.discrepancies if d.pending]
        settled = [d for d in result.discrepancies if not d.pending]
        points = [Segment(d.key, d.key, True) for d in pending]
        result.discrepancies = sorted(settled + self._compare(points, result.stats),
                                      key=lambda d: d.key)
