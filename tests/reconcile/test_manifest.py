"""Manifest chain and certificate: a missing, reordered or altered run is detected; PASS needs N clean."""

from __future__ import annotations

import copy

import pytest

from reconcile import manifest as mf
from reconcile.manifest import SignedManifest, Verdict

KEY = mf.derive_key("test-secret")
EXPECTED = ["balances", "transactions"]


def chain_of(statuses: list[str], key: bytes = KEY, mapping: str = "m1",
             full: bool = True) -> list[SignedManifest]:
    chain: list[SignedManifest] = []
    previous = mf.GENESIS
    for seq, status in enumerate(statuses, start=1):
        comparisons = [{"name": n, "status": status, "complete": status != "incomplete" and full}
                       for n in EXPECTED]
        m = mf.build_manifest(run_id=100 + seq, capability="ledger", sequence=seq, status=status,
                              mapping_source="ledger.toml", mapping_hash=mapping,
                              started_at="s", finished_at="f", comparisons=comparisons,
                              expected=EXPECTED, previous_hash=previous)
        chain.append(SignedManifest(m, mf.sign(m, key)))
        previous = chain[-1].hash
    return chain


def test_an_intact_chain_verifies() -> None:
    assert mf.verify_chain(chain_of(["clean"] * 4), KEY) == []


def test_a_missing_run_is_detected_by_sequence_and_link() -> None:
    chain = chain_of(["clean"] * 4)
    problems = mf.verify_chain(chain[:1] + chain[2:], KEY)
    assert len(problems) == 2 and all("run 103" in p for p in problems)


def test_reordered_runs_are_detected() -> None:
    chain = chain_of(["clean"] * 3)
    assert mf.verify_chain([chain[0], chain[2], chain[1]], KEY)


def test_an_altered_run_breaks_its_signature_and_the_next_link() -> None:
    chain = chain_of(["breaks", "clean", "clean"])
    forged = copy.deepcopy(chain[0].manifest)
    forged["status"] = "clean"
    problems = mf.verify_chain([SignedManifest(forged, chain[0].signature), *chain[1:]], KEY)
    assert any("run 101" in p and "signature" in p for p in problems)
    assert any("run 102" in p and "does not chain" in p for p in problems)


def test_a_re_signed_forgery_without_the_key_fails_and_so_does_the_wrong_key() -> None:
    chain = chain_of(["clean"] * 2, key=mf.derive_key("attacker"))
    assert len(mf.verify_chain(chain, KEY)) == 2


@pytest.mark.parametrize(("statuses", "verdict", "clean"), [
    ([], Verdict.INSUFFICIENT, 0),
    (["clean", "clean"], Verdict.INSUFFICIENT, 2),
    (["clean", "clean", "clean"], Verdict.PASS, 3),
    (["clean", "clean", "clean", "breaks"], Verdict.FAIL, 0),
    (["clean", "breaks", "clean", "clean"], Verdict.INSUFFICIENT, 2),
    (["clean", "clean", "clean", "incomplete"], Verdict.INSUFFICIENT, 0),
    (["breaks", "incomplete", "clean", "clean", "clean"], Verdict.PASS, 3),
])
def test_certificate_passes_only_after_n_consecutive_clean_runs(
        statuses: list[str], verdict: Verdict, clean: int) -> None:
    cert = mf.evaluate_certificate("ledger", chain_of(statuses), KEY, required_runs=3)
    assert (cert.verdict, cert.consecutive_clean) == (verdict, clean), cert.reason


def test_clean_runs_without_full_coverage_never_pass() -> None:
    cert = mf.evaluate_certificate("ledger", chain_of(["clean"] * 5, full=False), KEY, 3)
    assert cert.verdict is Verdict.INSUFFICIENT and "coverage" in cert.reason


def test_a_broken_chain_fails_the_certificate_even_if_every_run_is_clean() -> None:
    chain = chain_of(["clean"] * 5)
    cert = mf.evaluate_certificate("ledger", chain[:2] + chain[3:], KEY, 3)
    assert cert.verdict is Verdict.FAIL and "chain is broken" in cert.reason


def test_clean_runs_on_an_older_mapping_do_not_count() -> None:
    old = chain_of(["clean"] * 3, mapping="old")
    newer = mf.build_manifest(run_id=200, capability="ledger", sequence=4, status="clean",
                              mapping_source="ledger.toml", mapping_hash="new", started_at="s",
                              finished_at="f", comparisons=[{"name": n, "complete": True}
                                                            for n in EXPECTED],
                              expected=EXPECTED, previous_hash=old[-1].hash)
    chain = [*old, SignedManifest(newer, mf.sign(newer, KEY))]
    cert = mf.evaluate_certificate("ledger", chain, KEY, 3)
    assert (cert.verdict, cert.consecutive_clean) == (Verdict.INSUFFICIENT, 1)


def chain_with_modes(modes: list[str]) -> list[SignedManifest]:
    chain: list[SignedManifest] = []
    previous = mf.GENESIS
    for seq, mode in enumerate(modes, start=1):
        comparisons = [{"name": n, "status": "clean", "complete": True,
                        "coverage": {"mode": mode if n == "transactions" else "full"}}
                       for n in EXPECTED]
        m = mf.build_manifest(run_id=300 + seq, capability="ledger", sequence=seq,
                              status="clean", mapping_source="ledger.toml", mapping_hash="m1",
                              started_at="s", finished_at="f", comparisons=comparisons,
                              expected=EXPECTED, previous_hash=previous)
        chain.append(SignedManifest(m, mf.sign(m, KEY)))
        previous = chain[-1].hash
    return chain


@pytest.mark.parametrize(("modes", "verdict"), [
    (["full", "incremental", "incremental"], Verdict.PASS),
    (["incremental", "full", "incremental"], Verdict.PASS),
    (["full", "incremental", "incremental", "incremental"], Verdict.INSUFFICIENT),
])
def test_a_pass_rests_on_at_least_one_full_run_in_the_streak(modes: list[str],
                                                              verdict: Verdict) -> None:
    chain = chain_with_modes(modes)
    assert chain[1].manifest["coverage"]["mode"] == modes[1]
    cert = mf.evaluate_certificate("ledger", chain, KEY, required_runs=3)
    assert cert.verdict is verdict, cert.reason


ROWS = [("transactions", "mismatch", "3", "reference", "ref-3", "x", None, False),
        ("transactions", "missing_in_extracted", "9", "", "1", "0", None, False)]


def test_the_discrepancy_digest_is_order_free_and_verification_finds_an_edit() -> None:
    digest = mf.discrepancy_digest(ROWS)
    assert digest == mf.discrepancy_digest(list(reversed(ROWS))) and digest["count"] == 2
    m = mf.build_manifest(run_id=7, capability="ledger", sequence=1, status="breaks",
                          mapping_source="l", mapping_hash="m", started_at="s", finished_at="f",
                          comparisons=[], expected=[], previous_hash=mf.GENESIS,
                          discrepancies=digest)
    chain = [SignedManifest(m, mf.sign(m, KEY))]
    assert mf.verify_chain(chain, KEY, {7: digest}) == []
    edited = [(*ROWS[0][:5], "y", *ROWS[0][6:]), ROWS[1]]
    for stored in (mf.discrepancy_digest(edited), mf.discrepancy_digest(ROWS[:1]), None):
        found = mf.verify_chain(chain, KEY, {} if stored is None else {7: stored})
        assert len(found) == 1 and "discrepancy rows changed" in found[0]
