"""Bisection planning: key-range segments, how to split them, which to descend into.

Pure. A segment is a closed-open key range ``[lo, hi)`` (closed at ``hi`` for the
last one, which holds the largest key). Python compares key tuples in the same
order as the database does (integers numerically, text by code point = UTF-8
byte order = ``COLLATE "C"``), so boundaries chosen here mean the same on both
sides and on both servers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from reconcile.sql import Key

Checksum = tuple[int, int]  # (row count, sum of row hashes)
EMPTY: Checksum = (0, 0)


@dataclass(frozen=True, order=True)
class Segment:
    lo: Key
    hi: Key
    hi_inclusive: bool = False

    def contains(self, key: Key) -> bool:
        return self.lo <= key and (key < self.hi or (self.hi_inclusive and key == self.hi))


def split_int(segment: Segment, parts: int) -> list[Segment]:
    """Split a single-integer-key segment into up to ``parts`` equal-width children."""
    lo, hi = int(segment.lo[0]), int(segment.hi[0])
    span = hi - lo + (1 if segment.hi_inclusive else 0)
    if span <= 1 or parts <= 1:
        return [segment]
    step = -(-span // min(parts, span))
    children = []
    start = lo
    while start + step < hi or (start + step == hi and segment.hi_inclusive):
        children.append(Segment((start,), (start + step,)))
        start += step
    children.append(Segment((start,), segment.hi, segment.hi_inclusive))
    return children


def split_at(segment: Segment, points: Iterable[Key], parts: int) -> list[Segment]:
    """Split at up to ``parts - 1`` of ``points`` (sampled keys) lying strictly inside."""
    inside = sorted({p for p in points if segment.lo < p < segment.hi
                     or (segment.hi_inclusive and p == segment.hi and p != segment.lo)})
    if not inside:
        return [segment]
    if len(inside) >= parts:
        stride = len(inside) / parts
        inside = sorted({inside[int(i * stride)] for i in range(1, parts)})
    bounds = [segment.lo, *inside]
    children = [Segment(a, b) for a, b in pairwise(bounds)]
    children.append(Segment(bounds[-1], segment.hi, segment.hi_inclusive))
    return children


def thresholds(children: Sequence[Segment]) -> list[Key]:
    """``width_bucket`` thresholds for sorted, disjoint children: bucket b is children[b-1].

    Rows outside every parent range are filtered by the query's range predicate, so
    the children's lower bounds alone place every remaining row.
    """
    return [child.lo for child in children]


@dataclass(frozen=True)
class Verdict:
    clean: list[Segment]
    descend: list[Segment]
    fetch: list[Segment]


def classify(children: Sequence[Segment], legacy: Mapping[int, Checksum],
             extracted: Mapping[int, Checksum], leaf_rows: int,
             splittable: Mapping[Segment, bool]) -> Verdict:
    """Compare children's checksums: equal → clean; small or unsplittable → fetch rows."""
    verdict = Verdict([], [], [])
    for index, child in enumerate(children, start=1):
        mine, theirs = legacy.get(index, EMPTY), extracted.get(index, EMPTY)
        if mine == theirs:
            verdict.clean.append(child)
        elif max(mine[0], theirs[0]) <= leaf_rows or not splittable.get(child, True):
            verdict.fetch.append(child)
        else:
            verdict.descend.append(child)
    return verdict
