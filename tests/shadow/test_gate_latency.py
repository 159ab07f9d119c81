"""The shadow gate judges latency on enough samples only, and fails a clearly wrong candidate early."""

from __future__ import annotations

from dataclasses import replace

from shadow.aggregate import aggregate
from shadow.diff import Difference
from shadow.evidence import Thresholds, gate_evidence
from shadow.observation import Observation
from tests.shadow.test_evidence_reports import obs

SLOW = 400.0  # candidate milliseconds, against the primary's 10


def slow(i: int) -> Observation:
    return replace(obs(i), candidate_latency_ms=SLOW)


def test_one_slow_candidate_answer_among_few_samples_is_not_a_verdict_on_latency() -> None:
    few = aggregate([*(obs(i) for i in range(9)), slow(9)])
    evidence = gate_evidence(few, Thresholds(0.99, 300, 50))
    assert evidence.verdict == "insufficient" and "10 shadow samples" in evidence.detail


def test_with_enough_samples_a_slow_candidate_fails_the_gate() -> None:
    many = aggregate([slow(i) for i in range(400)])
    evidence = gate_evidence(many, Thresholds(0.9, 300, 50))
    assert evidence.verdict == "failed" and "slower than the monolith" in evidence.detail


def test_a_candidate_wrong_on_every_sample_fails_before_the_sample_count_is_reached() -> None:
    wrong = Difference("/results/0/txn_type_display", "changed", "CREDIT", "credit")
    evidence = gate_evidence(aggregate([obs(i, (wrong,)) for i in range(20)]), Thresholds(0.99, 300, 50))
    assert evidence.verdict == "failed" and "match rate" in evidence.detail


def test_with_a_secondary_the_candidate_is_timed_against_the_monolith_measured_beside_it() -> None:
    """A busy comparator slows what it measures; the secondary, called together with the
    candidate, is slowed alike, and the proxy's own (lighter) timing is not used."""
    import json
    from datetime import UTC, datetime

    from shadow.comparator import Request, observe
    from shadow.diff import Side
    from shadow.noise import NoiseModel
    from shadow.rules import CapabilityRules

    def answer(seconds: float) -> Side:
        return Side(200, {"content-type": "application/json"}, json.dumps({"ok": 1}).encode(), seconds)

    request, rules, at = Request("r1", "wallets", "GET", "/x/"), CapabilityRules(name="wallets"), \
        datetime(2025, 1, 1, tzinfo=UTC)
    beside = observe(request, answer(0.005), answer(0.310), answer(0.300), rules, NoiseModel(), at)
    alone = observe(request, answer(0.005), answer(0.310), None, rules, NoiseModel(), at)
    assert beside.primary_latency_ms == 300.0 and beside.candidate_latency_ms == 310.0
    assert alone.primary_latency_ms == 5.0
