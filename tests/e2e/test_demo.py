"""End to end: `strangler demo`, the main job, as a user runs it (a real subprocess, real stack).

The first run strangles the ledger through every phase with the legacy client calling the
proxy throughout (reads and writes): its read side first, then its writes (`ledger.write`:
write shadow with dry runs, the cutover's hand-over, reconciliation with the ledger as the
writer), then decommissions both. The second plants a bug in the ledger service and must
stop at the shadow gate, naming the evidence. Both read the JSON twin of the HTML report, so
the figures asserted are the ones a person would read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_stack import stack_env, strangler

pytestmark = pytest.mark.e2e
READ_PHASES = ["legacy", "backfill", "shadow", "reconciliation", "canary 1%", "canary 5%", "canary 25%",
               "canary 50%", "extracted", "reconciliation after extraction"]
WRITE_PHASES = ["write backfill", "write shadow", "write cutover", "reconciliation after write cutover"]
PHASES = [*READ_PHASES, *WRITE_PHASES, "decommission"]


def run_demo(tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.html"
    result = strangler(["demo", "--transactions", "3000", "--dwell", "3", "--report", str(report),
                        *extra], stack_env(tmp_path), timeout=900)
    output = result.stdout + result.stderr
    assert report.exists(), output[-6000:]
    return result.returncode, output, json.loads(report.with_suffix(".json").read_text())


def test_the_demo_strangles_the_ledger_reads_then_writes_with_no_client_visible_error(tmp_path: Path) -> None:
    code, output, data = run_demo(tmp_path)

    assert code == 0, output[-8000:]
    assert "demo passed" in output
    phases = {p["name"]: p for p in data["phases"]}
    assert list(phases) == PHASES
    assert all(p["client_errors"] == 0 for p in phases.values()), "the write hand-over included"
    # the load runs in 2 s slices booked to the phase they end in: any phase of 4.5 s or more
    # holds at least one whole slice, so the client was calling throughout
    assert all(p["requests"] > 0 for p in phases.values() if p["ended"] - p["started"] >= 4.5)
    # the measured share of ledger reads the ledger service answered follows the flags
    assert phases["legacy"]["extracted_share"] in (None, 0.0)
    assert phases["shadow"]["extracted_share"] in (None, 0.0)
    assert phases["shadow"]["shadow_samples"] >= 300 and phases["shadow"]["match_rate"] >= 0.99
    # After the flip, a client whose monolith writes overflowed the read-your-writes fence's
    # token list (64 in its 10 s window) reads from the monolith until those writes expire: the
    # fence never forgets an unverified write. So the extracted phase (5-6 s) may still show
    # monolith reads; a CI run on a faster host wrote fast enough to measure 0.52 there, with
    # the monolith's share falling to 0 within 7 s of the flip. The write shadow, which starts
    # after the extracted phase and lasts about 20 s, is past that window: there every ledger
    # read is the ledger service's but for the proxies' per-second flush of the flip's second.
    assert phases["extracted"]["extracted_share"] > 0
    assert phases["write shadow"]["extracted_share"] >= 0.9
    assert phases["decommission"]["extracted_share"] == 1.0
    assert "clean" in phases["reconciliation"]["reconciliation"]
    assert "clean" in phases["reconciliation after extraction"]["reconciliation"]
    # the writes (credits and debits of the legacy client) stay on the monolith until the cutover,
    # including through the write shadow, whose samples are the ledger's dry runs of them
    assert all(phases[name]["write_share"] in (None, 0.0) for name in [*READ_PHASES, *WRITE_PHASES[:2]])
    assert phases["write shadow"]["shadow_samples"] >= 300
    assert phases["write shadow"]["match_rate"] >= 0.99
    assert phases["write cutover"]["write_share"] > 0
    assert any("ledger writes held" in note for note in phases["write cutover"]["notes"])
    assert phases["reconciliation after write cutover"]["write_share"] == 1.0
    assert phases["decommission"]["write_share"] == 1.0
    assert "clean" in phases["reconciliation after write cutover"]["reconciliation"]
    events = [t["event"] for t in data["timeline"]]
    same = [e for e in events if "identical to the first run" in e]
    assert len(same) == 2 and "reads and writes extracted" in same[1], "clients could tell the difference"
    assert any(e.startswith("ledger_sync: every one of the") for e in events), events
    assert any("ledger.write: extracted → decommissioned" in e for e in events)
    assert (tmp_path / "report.html").read_text().count("<tr>") >= len(PHASES)
    assert not (tmp_path / "postgres" / "data" / "postmaster.pid").exists(), "the stack was stopped"


def test_a_planted_bug_in_the_ledger_service_stops_the_demo_at_the_gate_with_the_evidence(
        tmp_path: Path) -> None:
    code, output, data = run_demo(tmp_path, "--plant-bug", "--shadow-timeout", "120")

    assert code == 1, output[-8000:]
    assert "stopped at the gate" in output
    assert "canary" in str(data["stopped_at"])
    evidence = " ".join(data["evidence"])
    assert "shadow" in evidence and "match rate" in evidence, evidence
    names = [p["name"] for p in data["phases"]]
    assert names == PHASES[:3], "nothing moved past shadow"
    assert all(p["client_errors"] == 0 for p in data["phases"])
