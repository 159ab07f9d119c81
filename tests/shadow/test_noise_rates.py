"""Diffy-style noise rates per path: a candidate difference counts only where it beats the noise.

Observations are built as ``observe`` builds them (through ``observe`` itself where
the per-request cancellation matters), then aggregated: the verdict is taken over
the whole set, per capability and generalised path.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from shadow.aggregate import aggregate
from shadow.comparator import Request, observe
from shadow.diff import Difference, Side
from shadow.evidence import gate_evidence
from shadow.noise import NoiseModel, PathRate, noise_rates
from shadow.observation import Observation, Outcome, noise_flags
from shadow.report import render
from shadow.rules import CapabilityRules

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RULES = CapabilityRules(name="wallets")


def side(**body: object) -> Side:
    return Side(200, {"content-type": "application/json"}, json.dumps(body).encode(), 0.01)


def observed(i: int, primary: Side, candidate: Side, secondary: Side | None) -> Observation:
    request = Request(f"r{i}", "wallets", "GET", "/api/v1/wallets/1/")
    return observe(request, primary, candidate, secondary, RULES, NoiseModel(), T0 + timedelta(seconds=i))


def random_field_everywhere(n: int, seed: int = 7, bug: bool = False) -> list[Observation]:
    """``/nonce`` is random on every instance (primary, secondary, candidate alike): pure noise.

    With ``bug`` the candidate also gets ``/amount`` wrong in every answer.
    """
    rng = random.Random(seed)
    found = []
    for i in range(n):
        def nonce() -> int:
            return rng.choice([1, 2])  # two values: instances agree half the time

        amount = 101 if bug else 100
        found.append(observed(i, side(nonce=nonce(), amount=100), side(nonce=nonce(), amount=amount),
                              side(nonce=nonce(), amount=100)))
    return found


def test_per_request_cancellation_alone_blames_the_candidate_for_a_random_field() -> None:
    """The case the rates exist for: the secondary happened to agree, so nothing was cancelled."""
    found = random_field_everywhere(200)
    blamed = [o for o in found if o.outcome is Outcome.DIFF]
    assert len(blamed) > 20  # about a quarter: candidate differs, secondary does not
    assert all(d.path == "/nonce" for o in blamed for d in o.differences)


def test_a_field_whose_candidate_rate_does_not_exceed_its_noise_rate_is_noise() -> None:
    found = random_field_everywhere(200)
    rate = noise_rates(found).rates[("wallets", "/nonce")]
    assert rate.samples == 200 and 0.35 < rate.noise_rate < 0.65 and 0.35 < rate.candidate_rate < 0.65
    summary = aggregate(found)
    assert summary.match_rate == 1.0 and not summary.groups
    assert summary.noise["/nonce"] == rate.candidate  # every candidate difference there: cancelled


def test_a_real_bug_still_counts_next_to_a_noisy_field() -> None:
    summary = aggregate(random_field_everywhere(200, bug=True))
    assert summary.match_rate == 0.0
    assert {(g.path, g.kind, g.count) for g in summary.groups.values()} == {("/amount", "changed", 200)}


def test_a_real_bug_at_a_noisy_path_counts_when_it_beats_the_noise() -> None:
    """The secondary disagrees on /status 10 % of the time; the candidate every time: a bug."""
    found = []
    for i in range(100):
        noisy = i % 10 == 0
        found.append(Observation(
            "wallets", f"r{i}", "GET", "/w", T0, Outcome.MATCH if noisy else Outcome.DIFF, 200, 200, 1.0, 1.0,
            differences=() if noisy else (Difference("/status", "changed", "ok", "OK"),),
            cancelled=(Difference("/status", "changed", "ok", "OK"),) if noisy else (),
            flags=noise_flags(["/status"] if noisy else [])))
    summary = aggregate(found)
    assert summary.groups[("wallets", "/status", "changed")].count == 90
    assert summary.noise_rates.rates[("wallets", "/status")].counts()


def test_where_the_secondary_never_disagrees_a_single_difference_counts() -> None:
    """Diffy's absolute threshold would drop 1 in 10,000; here, with no noise at the path, it counts."""
    clean = [observed(i, side(a=1), side(a=1), side(a=1)) for i in range(300)]
    one = observed(999, side(a=1), side(a=2), side(a=1))
    summary = aggregate([*clean, one])
    assert summary.total - summary.matched == 1
    assert noise_rates([*clean, one]).rates == {}  # no noisy path, nothing to judge


def test_thresholds_follow_diffy_relative_and_absolute() -> None:
    assert not PathRate("c", "/p", 100, 10, 13).counts()  # (13-10)/23 = 13 % relative: below 20 %
    assert PathRate("c", "/p", 100, 10, 13).counts(relative=10)
    assert PathRate("c", "/p", 100, 10, 20).counts()  # 33 % relative, 10 % absolute
    assert not PathRate("c", "/p", 1_000_000, 10, 20).counts()  # 0.001 % absolute: below 0.03 %
    assert PathRate("c", "/p", 10, 0, 1).counts()  # no noise: always


def test_noise_at_a_container_leaves_the_fields_inside_it_to_their_own_rates() -> None:
    """Replayed writes: the secondary lost the whole event. A fresh one: the candidate's amount is wrong.

    Judged per exact field, as Diffy does: however many replays made ``#effects/credited``
    noisy, the wrong amount in the fresh write still counts.
    """
    whole = Difference("#effects/credited", "missing")
    amount = Difference("#effects/credited/0/amount", "changed", "1.00", "1.01")
    replays = [Observation("w", f"r{i}", "POST", "/c", T0, Outcome.MATCH, 201, 201, 1.0, 1.0,
                           cancelled=(whole,), flags=noise_flags(["#effects/credited"])) for i in range(9)]
    fresh = Observation("w", "fresh", "POST", "/c", T0, Outcome.DIFF, 201, 201, 1.0, 1.0,
                        differences=(amount,))
    rates = noise_rates([*replays, fresh])
    assert set(rates.rates) == {("w", "#effects/credited")}
    assert rates.counts("w", amount.path)
    summary = aggregate([*replays, fresh])
    assert [(g.path, g.count) for g in summary.groups.values()] == [("#effects/credited/*/amount", 1)]


def test_observe_records_where_the_secondary_disagreed_as_flags_that_plain_flags_leave_out() -> None:
    found = observed(1, side(at="t1", a=1), side(at="t2", a=1), side(at="t3", a=1))
    assert found.noise_paths == frozenset({"/at"}) and found.plain_flags == frozenset()
    assert found.outcome is Outcome.MATCH and [d.path for d in found.cancelled] == ["/at"]
    without = observed(2, side(a=1), side(a=1), None)
    assert without.noise_paths == frozenset() and without.plain_flags == {"no_secondary"}
    assert not without.compared_with_secondary
    assert aggregate([found, without]).flags == {"no_secondary": 1}


def test_every_report_shows_the_noise_rate_per_path() -> None:
    summary = aggregate(random_field_everywhere(50, bug=True))
    evidence = gate_evidence(summary)
    markdown = render("markdown", summary, evidence, "t", None)
    assert "## Noise rate per path" in markdown and "| wallets | `/nonce` | 50 |" in markdown
    html = render("html", summary, evidence, "t", None)
    assert "<h2>Noise rate per path</h2>" in html and "<code>/nonce</code>" in html
    rows = json.loads(render("json", summary, evidence, "t", None))["noise_rates"]
    assert [(r["path"], r["verdict"]) for r in rows] == [("/nonce", "noise")]
