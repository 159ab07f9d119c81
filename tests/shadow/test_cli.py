"""``strangler shadow report|prune|replay``: formats, exit codes CI relies on, and refusals of bad input.

In process through ``strangler.cli.main`` against the control plane's test database
(observations written with the real ``DjangoObservationStore``), and as real
subprocesses for what only a real command line shows: argparse's exit code 2 and
the report of committed observations read by another process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from shadow.diff import Difference
from shadow.observation import Observation, Outcome
from strangler.cli import main
from tests.shadow.servers import Request, serve

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)


def observation(i: int, capability: str = "wallets", *, diff: bool = False, age: timedelta = timedelta(0),
                ) -> Observation:
    differences = (Difference("/currency", "changed", "INR", "USD"),) if diff else ()
    return Observation(capability, f"r{i}-{capability}", "GET", "/api/v1/wallets/7/",
                       NOW - age - timedelta(seconds=i), Outcome.DIFF if diff else Outcome.MATCH,
                       200, 200, 10.0, 11.0, differences=differences)


@pytest.fixture
def stored() -> Iterator[None]:
    """19 matches and 1 difference for wallets (95 %), 1 match for payouts, 1 wallets match 3 h old."""
    from strangler.control.shadow.store import DjangoObservationStore

    store = DjangoObservationStore()
    for i in range(19):
        store.add(observation(i))
    store.add(observation(19, diff=True))
    store.add(observation(0, "payouts"))
    store.add(observation(99, age=timedelta(hours=3)))
    yield


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["shadow", *argv])
    out, err = capsys.readouterr()
    return code, out, err


pytestmark = pytest.mark.django_db(databases=["control"])


@pytest.mark.usefixtures("stored")
def test_every_format_renders_what_was_stored(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--capability", "wallets", "--since", "1h", "--format", "json")
    found = json.loads(out)
    assert code == 0 and (found["total"], found["matched"]) == (20, 19)
    assert [(d["path"], d["kind"], d["count"]) for d in found["differences"]] == [("/currency", "changed", 1)]

    code, out, _ = run(capsys, "report", "--capability", "wallets", "--since", "1h")
    assert code == 0 and "match rate: **95.000 %**" in out
    assert "| wallets | `/currency` | changed | 1 |" in out

    code, out, _ = run(capsys, "report", "--capability", "wallets", "--format", "junit")
    suite = ET.fromstring(out)
    assert code == 0 and suite.get("tests") == "2" and suite.get("failures") == "1"

    code, out, _ = run(capsys, "report", "--format", "html")
    assert code == 0 and out.startswith("<!doctype html>") and "<svg" in out and "Samples <b>22</b>" in out


@pytest.mark.usefixtures("stored")
def test_fail_under_gives_ci_an_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "report", "--capability", "wallets", "--fail-under", "95")[0] == 0
    assert run(capsys, "report", "--capability", "wallets", "--fail-under", "99.9")[0] == 1
    assert run(capsys, "report", "--capability", "payouts", "--fail-under", "100")[0] == 0
    code, _, err = run(capsys, "report", "--capability", "nothing-here")
    assert code == 3 and "insufficient evidence" in err  # no samples is never a pass


@pytest.mark.usefixtures("stored")
def test_since_reaches_back_exactly_as_far_as_asked(capsys: pytest.CaptureFixture[str]) -> None:
    def total(since: str) -> int:
        return int(json.loads(run(capsys, "report", "--capability", "wallets", "--since", since,
                                  "--format", "json")[1])["total"])

    assert total("1h") == total("120m") == 20
    assert total("4h") == total("1d") == 21  # the 3 h old one
    assert total("5s") < 20


@pytest.mark.usefixtures("stored")
def test_output_writes_the_report_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "shadow.xml"
    code, out, _ = run(capsys, "report", "--format", "junit", "--output", str(target))
    assert code == 0 and out == "" and ET.fromstring(target.read_text()).tag == "testsuite"


@pytest.mark.parametrize(("since", "needle"), [
    *((bad, "is not a duration like 90s, 30m, 12h, 60d or 2w")
      for bad in ("yesterday", "24", "h", "-1h", "1.5h", "1y", "")),
    ("0h", "'0h' is zero"),
])
def test_a_bad_since_is_refused_at_parse_time(capsys: pytest.CaptureFixture[str], since: str,
                                              needle: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["shadow", "report", f"--since={since}"])
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["report", "--format", "pdf"], ["report", "--fail-under", "lots"],
                                  ["prune", "--older-than", "soon"]])
def test_other_bad_options_are_refused_at_parse_time(capsys: pytest.CaptureFixture[str],
                                                     argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["shadow", *argv])
    assert exit_info.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.usefixtures("stored")
def test_prune_forgets_only_what_is_older_than_asked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "prune", "--older-than", "2h")
    assert code == 0 and "pruned 1 rows" in err
    code, out, _ = run(capsys, "report", "--since", "7d", "--format", "json")
    assert json.loads(out)["total"] == 21


def test_replay_compares_a_corpus_and_refuses_a_broken_rules_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import asyncio

    async def answer(currency: str, request: Request) -> tuple[int, dict[str, str], bytes]:
        body = {"id": 7, "currency": currency, "path": request.target}
        return 200, {"content-type": "application/json"}, json.dumps(body).encode()

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"capability": "wallets", "method": "GET",
                                          "target": f"/api/v1/wallets/{i}/"}) + "\n" for i in range(3)))
    rules = tmp_path / "rules.toml"
    rules.write_text('[capabilities."wallets"]\nsample_percent = 200\n')

    async def scenario() -> tuple[int, int]:
        async with serve(lambda r: answer("INR", r)) as primary, serve(lambda r: answer("USD", r)) as cand:
            argv = ["shadow", "replay", str(corpus), "--primary", primary.url, "--candidate", cand.url,
                    "--format", "json"]
            good = await asyncio.to_thread(main, argv)
            bad = await asyncio.to_thread(main, [*argv, "--rules", str(rules)])
            return good, bad

    good, bad = asyncio.run(scenario())
    out, err = capsys.readouterr()
    assert good == 0 and bad == 65
    found = json.loads(out)
    assert found["total"] == 3 and found["matched"] == 0
    assert [(d["path"], d["count"]) for d in found["differences"]] == [("/currency", 3)]
    assert "rules.toml:2" in err and "sample_percent" in err


# -- real subprocesses -----------------------------------------------------------------------
def strangler(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "strangler", *argv], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120, check=False)


def test_the_real_command_line_refuses_a_bad_since_with_exit_code_2() -> None:
    done = strangler("shadow", "report", "--since", "soon")
    assert done.returncode == 2 and "'soon' is not a duration" in done.stderr and done.stdout == ""


@pytest.mark.django_db(databases=["control"], transaction=True)
@pytest.mark.usefixtures("stored")
def test_the_real_command_line_reports_committed_observations_with_ci_exit_codes(tmp_path: Path) -> None:
    from tests.control.conftest import control_url

    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_CONTROL_DATABASE_URL": control_url()}
    passing = strangler("shadow", "report", "--capability", "wallets", "--format", "json", env=env)
    assert passing.returncode == 0, passing.stderr
    assert json.loads(passing.stdout)["total"] == 21  # the default --since is 24 h
    failing = strangler("shadow", "report", "--capability", "wallets", "--since", "1h", "--fail-under", "99",
                        env=env)
    assert failing.returncode == 1 and "95.000 %" in failing.stdout


def test_an_unreachable_control_plane_database_is_a_clear_error_not_a_traceback(
        pg_server_url: str) -> None:
    missing = pg_server_url.rsplit("/", 1)[0] + "/no_such_control_db"
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_CONTROL_DATABASE_URL": missing}
    done = strangler("shadow", "report", env=env)
    assert done.returncode == 69, done.stderr
    assert "cannot read the shadow observations" in done.stderr and "Traceback" not in done.stderr
