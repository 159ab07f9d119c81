"""The checksum-and-bisect engine: find every differing row without moving the tables.

Both sides compute (count, checksum) for many key-range segments in one grouped
query each, concurrently; only segments whose checksums differ are split and
rechecked; segments that are small (or cannot be split) have their rows fetched
and compared row by row. Discrepancies inside the lag window are rechecked once
at the end of the run. The engine talks to each side through :class:`SideReader`
(real one: ``reconcile.adapters.postgres.PostgresSide``); the planning and row
comparison it drives are pure.

Given the clean first-level segments of an earlier run (a :class:`Baseline`), the run
is *incremental*: one cheap fingerprint pass per side says which of those segments are
provably unchanged on both sides; they are carried (their stored counts and checksums
enter the totals) and only the rest is checksummed and bisected. See
``reconcile.incremental`` for why that is safe and when it is refused. With ``keep``,
the run returns the clean first-level segments it verified or carried, for the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from reconcile.check import CheckedComparison
from reconcile.compare import ColumnRule, Discrepancy, Row, compare_rows
from reconcile.errors import SideUnavailableError
from reconcile.incremental import (
    INCREMENTAL,
    MOD,
    Baseline,
    Probe,
    SegmentRecord,
    SideBasis,
    changed_keys,
    plan,
    refusal,
    unchanged,
)
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

    def checksums_fp(self, parents: Sequence[Segment],
                     children: Sequence[Segment]) -> dict[int, tuple[int, int, int]]: ...

    def basis(self) -> SideBasis: ...

    def fingerprints(self, root: Segment, children: Sequence[Segment],
                     changed: Mapping[str, Sequence[str]]) -> dict[int, Probe]: ...


@dataclass(frozen=True)
class Options:
    segment_rows: int = 1000  # target rows per first-level segment
    max_segments: int = 65536  # cap on first-level segments
    fanout: int = 16  # children per split segment
    leaf_rows: int = 64  # at most this many rows on both sides: fetch instead of splitting
    batch_ranges: int = 5000  # ranges per query when descending or fetching


def _checksums(side: SideReader, parents: Sequence[Segment],
               children: Sequence[Segment], fp: bool = False) -> dict[int, tuple[int, ...]]:
    if fp:
        return dict(side.checksums_fp(parents, children))
    return dict(side.checksums(parents, children))


def _rows(side: SideReader, ranges: Sequence[Segment]) -> list[Row]:
    return side.rows(ranges)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Engine:
    clock: Callable[[], datetime] = staticmethod(now_utc)  # test seam for the lag window

    def __init__(self, checked: CheckedComparison, legacy: SideReader, extracted: SideReader,
                 options: Options | None = None,
                 before_recheck: Callable[[], None] | None = None, *,
                 baseline: Baseline | None = None, keep: bool = False, label: str = "",
                 row_hash: str = "chained") -> None:
        self.checked = checked
        self.baseline = baseline
        self.keep = keep  # return the clean first-level segments for the next run
        self.label = label  # what the next run's coverage will name as its basis
        self.row_hash = row_hash
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
        keep = self.keep or self.baseline is not None
        bases = self.both(lambda side: side.basis()) if keep else None
        why = refusal(self.baseline, self.checked.mapping_hash, self.row_hash, bases) \
            if bases else None
        if bases and why and any(b.identity is None for b in bases):
            keep = False  # no fingerprints on this comparison: nothing worth keeping
        incremental = self._incremental(root, bases, result) if bases and not why else None
        if incremental is None:
            if why:
                result.coverage.reason = why
            estimate = max(self.both(lambda side: side.estimate_rows()))
            stats.queries += 2
            first = max(1, min(self.options.max_segments, estimate // self.options.segment_rows))
            carried: list[SegmentRecord] = []
            self._counts[root] = estimate  # text/composite keys: sample about `first` keys
            parents, children = [root], self._split([root], first)
        else:
            parents, children, carried = incremental
        split_self = incremental is not None
        leaves: list[Segment] = []
        totals = [(sum(r.rows for r in carried), sum(r.checksum for r in carried))] * 2
        kept = list(carried)
        while children:
            stats.levels += 1
            flat = [c for group in children for c in group]
            first_level = stats.levels == 1
            sums, fps = self._checksums(parents, children, stats, keep and first_level)
            if first_level:
                totals = [(t[0] + sum(n for n, _ in s.values()), t[1] + sum(h for _, h in s.values()))
                          for t, s in zip(totals, sums, strict=True)]
                result.coverage.segments = len(carried) + len(flat)
                result.coverage.rechecked = len(flat)
            # A first-level segment of an incremental run may be its own parent, yet splits.
            splittable = {c: len(group) > 1 or c != parents[i] or (first_level and split_self)
                          for i, group in enumerate(children) for c in group}
            verdict = classify(flat, sums[0], sums[1], self.options.leaf_rows, splittable)
            if keep and first_level:
                kept += self._records(flat, verdict.clean, sums, fps)
            stats.segments_compared += len(flat)
            leaves += verdict.fetch
            parents = verdict.descend
            children = self._split(parents, self.options.fanout) if parents else []
        for summary, (count, total) in zip((result.legacy, result.extracted), totals, strict=True):
            summary.rows = count
            summary.checksum = f"{total % MOD:016x}"
        if keep and bases:
            result.baseline = Baseline(
                self.label, self.checked.mapping_hash, self.row_hash,
                (str(bases[0].identity), str(bases[1].identity)),
                (bases[0].joined, bases[1].joined),
                tuple(sorted(kept, key=lambda r: r.segment)))
        stats.segments_fetched = len(leaves)
        result.discrepancies = self._compare(leaves, stats)
        if any(d.pending for d in result.discrepancies):
            self._recheck(result)

    def _incremental(self, root: Segment, bases: tuple[SideBasis, SideBasis],
                     result: RunResult) -> tuple[list[Segment], list[list[Segment]],
                                                 list[SegmentRecord]] | None:
        """First level of an incremental run: (dirty parents, their children, carried records).

        None when too much changed for skipping to pay (then the run is full, and says so).
        """
        baseline = self.baseline
        assert baseline is not None
        planned = plan([r.segment for r in baseline.segments], root.lo, root.hi)
        segments = [s for s, _ in planned]
        cover = Segment(segments[0].lo, segments[-1].hi, True)
        changed = [changed_keys(before, basis.joined)
                   for before, basis in zip(baseline.joined, bases, strict=True)]
        probes = self.both(lambda side: side.fingerprints(
            cover, segments, changed[0 if side is self.legacy else 1]))
        result.stats.queries += 2
        carried: list[SegmentRecord] = []
        dirty: list[tuple[Segment, int]] = []
        for bucket, (segment, index) in enumerate(planned, start=1):
            mine, theirs = probes[0].get(bucket, (0, 0, 0)), probes[1].get(bucket, (0, 0, 0))
            if index is not None and unchanged(baseline.segments[index], mine, theirs):
                carried.append(baseline.segments[index])
            else:
                dirty.append((segment, max(mine[0], theirs[0])))
        if 2 * len(dirty) > len(planned):
            result.coverage.reason = (f"{len(dirty)} of {len(planned)} segments changed since "
                                      f"run {baseline.basis}: a full pass is cheaper")
            return None
        coverage = result.coverage
        coverage.mode, coverage.basis = INCREMENTAL, baseline.basis
        coverage.carried = len(carried)
        coverage.rows_carried = sum(r.rows for r in carried)
        coverage.reason = (f"{len(carried)} segments ({coverage.rows_carried} rows) unchanged on "
                           f"both sides since run {baseline.basis}, verified clean there")
        children = []
        for segment, rows in dirty:
            parts = max(1, min(self.options.max_segments, rows // self.options.segment_rows))
            self._counts[segment] = rows
            children += self._split([segment], parts)
        return [s for s, _ in dirty], children, carried

    @staticmethod
    def _records(flat: Sequence[Segment], clean: Sequence[Segment],
                 sums: tuple[dict[int, Checksum], dict[int, Checksum]],
                 fps: tuple[dict[int, int], dict[int, int]]) -> list[SegmentRecord]:
        """The first-level segments found clean, with what the next run needs to skip them."""
        index = {segment: i for i, segment in enumerate(flat, start=1)}
        records = []
        for segment in clean:
            i = index[segment]
            rows, total = sums[0].get(i, (0, 0))
            records.append(SegmentRecord(segment, rows, total % MOD, fps[0].get(i, 0),
                                         fps[1].get(i, 0)))
        return records

    def _split(self, parents: Sequence[Segment], parts: int) -> list[list[Segment]]:
        if self.int_key:
            return [split_int(p, parts) for p in parents]
        # Text or composite keys: boundaries from keys sampled on both sides, so a range
        # one side lacks entirely still gets split by the other side's keys.
        steps = [max(1, self._counts.get(p, 1 << 20) // parts) for p in parents]
        samples = self.both(lambda side: side.sample(parents, steps))
        return [split_at(p, samples[0][i] + samples[1][i], parts) for i, p in enumerate(parents)]

    def _checksums(self, parents: Sequence[Segment], children: Sequence[Sequence[Segment]],
                   stats: RunStats, fp: bool = False) -> tuple[
                       tuple[dict[int, Checksum], dict[int, Checksum]],
                       tuple[dict[int, int], dict[int, int]]]:
        """Checksums (and with ``fp`` fingerprints) of all children, keyed by 1-based
        position in the flattened list."""
        out: tuple[dict[int, Checksum], dict[int, Checksum]] = ({}, {})
        fps: tuple[dict[int, int], dict[int, int]] = ({}, {})
        batch = self.options.batch_ranges
        offset = 0
        for start in range(0, len(parents), batch):
            group = parents[start:start + batch]
            members = [c for kids in children[start:start + batch] for c in kids]
            sums = self.both(partial(_checksums, parents=group, children=members, fp=fp))
            stats.queries += 2
            for side_out, side_fps, side_sums in zip(out, fps, sums, strict=True):
                for bucket, value in side_sums.items():
                    side_out[bucket + offset] = (value[0], value[1])
                    if fp:
                        side_fps[bucket + offset] = value[2]
            offset += len(members)
        flat = [c for kids in children for c in kids]
        self._counts = {c: max(out[0].get(i, (0, 0))[0], out[1].get(i, (0, 0))[0])
                        for i, c in enumerate(flat, start=1)}
        return out, fps

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
