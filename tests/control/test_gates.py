"""Gate evaluation is pure: which changes need a gate, and when it holds."""

from __future__ import annotations

import pytest

from strangler.control.routing import evidence
from strangler.control.routing.gates import Evidence, Verdict, evaluate_gate

OK = [Evidence("shadow", Verdict.OK, "match 99.95%"), Evidence("reconciliation", Verdict.OK, "cert 7")]


@pytest.mark.django_db(databases=["control"])
def test_shadow_and_small_canaries_need_no_gate_even_without_evidence() -> None:
    none = evidence.collect("wallets")
    assert evaluate_gate("wallets", "shadow", 0, none).holds
    assert evaluate_gate("wallets", "canary", 500, none).holds
    assert not evaluate_gate("wallets", "canary", 500, none).required


@pytest.mark.django_db(databases=["control"])
def test_extracted_and_large_canaries_answer_insufficient_evidence_naming_what_is_missing() -> None:
    for mode, bp in (("extracted", 0), ("canary", 501)):
        result = evaluate_gate("wallets", mode, bp, evidence.collect("wallets"))
        assert result.required and not result.holds
        assert result.missing == ("shadow: insufficient evidence: 0 shadow samples, 1000 needed",
                                  "reconciliation: insufficient evidence: no parity certificate")


def test_gate_holds_only_when_every_piece_of_evidence_is_ok() -> None:
    assert evaluate_gate("wallets", "extracted", 0, OK).holds
    failed = [OK[0], Evidence("reconciliation", Verdict.FAILED, "3 discrepancies")]
    result = evaluate_gate("wallets", "extracted", 0, failed)
    assert not result.holds and result.failed == ("reconciliation: 3 discrepancies",)


def test_a_required_gate_without_any_provider_does_not_hold() -> None:
    result = evaluate_gate("wallets", "extracted", 0, [])
    assert not result.holds and result.missing == ("no evidence providers are registered",)


def test_the_canary_share_that_needs_a_gate_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from strangler.config import reset_settings_cache

    monkeypatch.setenv("STRANGLER_CANARY_GATE_PERCENT", "1")
    reset_settings_cache()
    try:
        assert evaluate_gate("wallets", "canary", 100, []).holds  # exactly 1 %: no gate
        result = evaluate_gate("wallets", "canary", 101, [])
        assert result.required and not result.holds
    finally:
        monkeypatch.delenv("STRANGLER_CANARY_GATE_PERCENT")
        reset_settings_cache()
