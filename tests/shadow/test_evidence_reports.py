"""Gate evidence (Wilson interval, never a pass on too few samples) and the four report formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from shadow.aggregate import aggregate
from shadow.diff import Difference
from shadow.evidence import Thresholds, gate_evidence, wilson
from shadow.observation import EffectParity, Observation, Outcome
from shadow.report import FORMATS, passed, render

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def obs(
    i: int,
    differences: tuple[Difference, ...] = (),
    effects: EffectParity = EffectParity.NOT_APPLICABLE,
    outcome: Outcome | None = None,
) -> Observation:
    return Observation(
        "wallets",
        f"r{i}",
        "GET",
        "/api/v1/wallets/1/",
        T0 + timedelta(minutes=i),
        outcome or (Outcome.DIFF if differences else Outcome.MATCH),
        200,
        200,
        10.0,
        12.0,
        differences=differences,
        effects=effects,
    )


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = wilson(81, 263)  # Wilson (1927) worked example style: p=0.308
    assert round(low, 4) == 0.2553 and round(high, 4) == 0.3662
    assert wilson(0, 0) == (0.0, 1.0)


def test_too_few_samples_is_insufficient_evidence_never_a_pass() -> None:
    evidence = gate_evidence(aggregate([obs(i) for i in range(10)]), Thresholds(0.99, 100, 50))
    assert evidence.verdict == "insufficient" and "10 shadow samples" in evidence.detail


def test_a_perfect_run_passes_only_when_the_interval_clears_the_threshold() -> None:
    straddling = gate_evidence(aggregate([obs(i) for i in range(1000)]), Thresholds(0.999, 100, 50))
    clear = gate_evidence(aggregate([obs(i) for i in range(5000)]), Thresholds(0.999, 100, 50))
    assert straddling.verdict == "insufficient" and clear.verdict == "ok"
    assert clear.facts["match_rate_interval"][0] >= 0.999


def test_one_side_effect_difference_fails_the_gate() -> None:
    summary = aggregate([*(obs(i) for i in range(5000)), obs(9999, effects=EffectParity.DIFF)])
    assert gate_evidence(summary, Thresholds(0.9, 100, 50)).verdict == "failed"


def test_groups_count_requests_by_generalised_path_with_bounded_redacted_samples() -> None:
    diffs = (
        Difference("/results/0/amount", "changed", 1, 2),
        Difference("/results/1/amount", "changed", 1, 2),
        Difference("/account_number", "changed", "123456789012", "123456789013"),
    )
    summary = aggregate([obs(i, diffs) for i in range(20)])
    group = summary.groups[("wallets", "/results/*/amount", "changed")]
    assert group.count == 20 and len(group.samples) == 5
    secret = summary.groups[("wallets", "/account_number", "changed")].samples[0]
    assert "123456789012" not in json.dumps(secret)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_the_rate_the_top_path_and_latency(fmt: str) -> None:
    summary = aggregate(
        [
            obs(1),
            obs(2, (Difference("/currency", "changed", "INR", "inr"),)),
            obs(3, outcome=Outcome.CANDIDATE_TIMEOUT),
        ]
    )
    text = render(fmt, summary, gate_evidence(summary), "t", 99.9)
    assert "/currency" in text
    if fmt == "json":
        assert json.loads(text)["match_rate"] == pytest.approx(1 / 3)
    elif fmt == "junit":
        assert ET.fromstring(text).get("failures") == str(len(summary.groups) + 1)
    elif fmt == "html":
        assert "<svg" in text and "<script" not in text and "p99" in text
    else:
        assert "33.333 %" in text


def test_no_observations_never_passes_and_a_rate_below_the_threshold_fails() -> None:
    assert not passed(aggregate([]), None)
    summary = aggregate([obs(1), obs(2, (Difference("/x", "changed"),))])
    assert passed(summary, 50) and not passed(summary, 99.9)
