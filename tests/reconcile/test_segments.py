"""Bisection planning: splits cover their parent exactly, without overlap; classification
descends only into differing segments."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconcile.segments import Segment, classify, split_at, split_int, thresholds


@given(lo=st.integers(-10**12, 10**12), width=st.integers(0, 10**6), parts=st.integers(1, 64),
       inclusive=st.booleans(), probe=st.integers(0, 10**6))
def test_integer_split_partitions_the_parent_exactly(lo: int, width: int, parts: int,
                                                     inclusive: bool, probe: int) -> None:
    parent = Segment((lo,), (lo + width,), inclusive)
    children = split_int(parent, parts)
    assert len(children) <= max(1, parts)
    key = (lo + probe % (width + 1),)
    holders = [c for c in children if c.contains(key)]
    assert len(holders) == (1 if parent.contains(key) else 0)
    assert [c.lo for c in children] == sorted(c.lo for c in children)


@given(points=st.lists(st.tuples(st.text(max_size=3), st.integers(0, 5)), max_size=50),
       probe=st.tuples(st.text(max_size=3), st.integers(0, 5)), parts=st.integers(2, 8))
def test_split_at_sampled_keys_partitions_the_parent_exactly(points: list[tuple[str, int]],
                                                             probe: tuple[str, int],
                                                             parts: int) -> None:
    parent = Segment(("",  0), ("\uffff", 5), True)
    children = split_at(parent, points, parts)
    assert len(children) <= parts
    assert sum(c.contains(probe) for c in children) == (1 if parent.contains(probe) else 0)
    assert thresholds(children) == sorted(thresholds(children))


def test_one_key_segment_cannot_be_split() -> None:
    one = Segment((7,), (7,), True)
    assert split_int(one, 16) == [one]
    assert split_at(Segment(("a",), ("a",), True), [("a",)], 4) == [Segment(("a",), ("a",), True)]


def test_classify_keeps_equal_segments_clean_fetches_small_and_descends_large() -> None:
    kids = [Segment((i,), (i + 100,)) for i in range(0, 400, 100)]
    legacy = {1: (100, 5), 2: (100, 6), 3: (3, 1), 4: (100, 9)}
    extracted = {1: (100, 5), 2: (100, 7), 3: (2, 1)}  # 4 absent: no rows there
    verdict = classify(kids, legacy, extracted, leaf_rows=10, splittable={})
    assert verdict.clean == [kids[0]]
    assert verdict.fetch == [kids[2]]
    assert verdict.descend == [kids[1], kids[3]]
