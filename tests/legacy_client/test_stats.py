"""Percentiles and the operation mix of the load generator."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from legacy_client.stats import OPERATIONS, Mix, MixChooser, percentile, summarise


def test_percentile_interpolates_like_numpy_linear() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_percentile_rejects_out_of_range_q() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_summary_reports_milliseconds() -> None:
    summary = summarise([0.003, 0.001, 0.002], errors=1)
    assert (summary.requests, summary.errors, summary.p50_ms) == (3, 1, pytest.approx(2.0))


def test_mix_draws_follow_the_weights_and_are_seed_deterministic() -> None:
    mix = Mix(balance=50, history=25, history_page_2=0, wallet_detail=0, credit=25, debit=0)
    choose = MixChooser(mix, random.Random(1))
    draws = Counter(choose() for _ in range(20_000))
    assert set(draws) == {"balance", "history", "credit"}
    assert 0.48 < draws["balance"] / 20_000 < 0.52
    one, two = MixChooser(Mix(), random.Random(5)), MixChooser(Mix(), random.Random(5))
    first = [one() for _ in range(50)]
    assert first == [two() for _ in range(50)]
    assert set(first) <= set(OPERATIONS)


def test_mix_rejects_negative_or_all_zero_weights() -> None:
    with pytest.raises(ValueError, match="mix weights"):
        Mix(balance=-1)
    with pytest.raises(ValueError, match="mix weights"):
        Mix(0, 0, 0, 0, 0, 0)
