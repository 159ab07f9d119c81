"""Bad input for `strangler capture` and for replaying flow files: a clear error, and nothing changed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from routing_proxy.capture.runtime import ENV_VAR, Runtime, in_process
from strangler.stack.net import free_port
from tests.capture.helpers import capture_env, run_capture, start_capture, upstream


def said(done: subprocess.CompletedProcess[str]) -> str:
    """stderr with line wrapping undone (rich wraps long messages)."""
    return " ".join(done.stderr.split())


def test_a_taken_port_is_refused_before_anything_is_written(tmp_path: Path, mitm: Runtime) -> None:
    with upstream() as up, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_capture(tmp_path, "--upstream", up.url, "--listen-port", str(port),
                           "--out", str(tmp_path / "x.flow"))
    assert done.returncode == 69, done.stderr
    assert f"port {port} on 127.0.0.1 is taken" in said(done) and "nothing was recorded" in said(done)
    assert list(tmp_path.glob("x.flow*")) == []


def test_an_unreachable_upstream_is_refused(tmp_path: Path, mitm: Runtime) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = run_capture(tmp_path, "--upstream", dead, "--listen-port", str(free_port()),
                       "--out", str(tmp_path / "x.flow"))
    assert done.returncode == 69, done.stderr
    assert f"the upstream {dead} is not reachable (Connection refused)" in said(done)
    assert list(tmp_path.glob("x.flow*")) == []


@pytest.mark.parametrize("where", ["file-as-directory", "existing", "leftover-partial"])
def test_an_unusable_output_path_is_refused_and_nothing_is_overwritten(
        tmp_path: Path, mitm: Runtime, where: str) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("keep me")
    out = {"file-as-directory": blocker / "x.flow", "existing": blocker,
           "leftover-partial": tmp_path / "y.flow"}[where]
    if where == "leftover-partial":
        (tmp_path / "y.flow.partial").write_bytes(b"earlier flows")
    with upstream() as up:
        done = run_capture(tmp_path, "--upstream", up.url, "--listen-port", str(free_port()),
                           "--out", str(out))
    assert done.returncode == 73, done.stderr
    said = " ".join(done.stderr.split())
    assert "nothing was recorded" in said
    expected = {"file-as-directory": "cannot write", "existing": "already exists",
                "leftover-partial": "was killed before it could finish"}[where]
    assert expected in said
    assert blocker.read_text() == "keep me"
    if where == "leftover-partial":
        assert (tmp_path / "y.flow.partial").read_bytes() == b"earlier flows"


@pytest.mark.parametrize(("args", "message"), [
    (["--upstream", "ftp://example"], "is not an http(s) URL"),
    (["--upstream", "http://127.0.0.1:8000/api"], "without a path"),
    (["--max-flows", "0"], "must be at least 1"),
    (["--duration", "-5"], "must be above 0"),
    (["--listen-port", "http"], "is not a whole number"),
])
def test_nonsense_arguments_are_refused_at_parse_time(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_capture(tmp_path, *args, "--out", str(tmp_path / "x.flow"))
    assert done.returncode == 2 and message in said(done), done.stderr
    assert list(tmp_path.glob("x.flow*")) == []


def test_a_second_capture_to_the_same_file_while_one_runs_is_refused(tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "same.flow"
    with upstream() as up:
        first = start_capture(tmp_path / "home", up.url, out)
        try:
            done = run_capture(tmp_path / "home", "--upstream", up.url, "--listen-port", str(free_port()),
                               "--out", str(out))
            assert done.returncode == 73 and "is running" in said(done), done.stderr
        finally:
            assert first.interrupt() == 0, first.stderr
    assert out.exists()


def replay(home: Path, corpus: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler", "shadow", "replay", str(corpus), "--primary", "http://127.0.0.1:9",
         "--candidate", "http://127.0.0.1:9", *args],
        capture_output=True, text=True, env=env or capture_env(home), timeout=120)


def test_replay_refuses_a_damaged_flow_file_and_a_flow_file_without_capability(
        tmp_path: Path, mitm: Runtime) -> None:
    garbage = tmp_path / "garbage.flow"
    garbage.write_bytes(b"12:not a flow record at all")
    done = replay(tmp_path, garbage, "--capability", "x")
    assert done.returncode == 65, done.stderr
    assert "garbage.flow: not a mitmproxy flow file" in said(done)

    good = tmp_path / "empty.flow"
    good.write_bytes(b"")
    done = replay(tmp_path, good)
    assert done.returncode == 65 and "a flow file names no capability" in said(done), done.stderr
    assert "--capability NAME" in said(done)


@pytest.mark.skipif(in_process(), reason="mitmproxy is installed in this environment")
def test_replay_without_mitmproxy_says_how_to_get_it(tmp_path: Path) -> None:
    flows = tmp_path / "some.flow"
    flows.write_bytes(b"2:{}}")
    env = {**capture_env(tmp_path), ENV_VAR: str(tmp_path / "no-venv-here")}
    done = replay(tmp_path, flows, "--capability", "x", env=env)
    assert done.returncode == 65, done.stderr
    assert "needs mitmproxy, which is not installed" in said(done)
    assert "strangler capture --setup" in said(done)


def test_jsonl_corpora_are_still_read_as_before(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"capability": "echo", "method": "GET", "target": "/a"}) + "\n")
    with upstream() as up:
        done = subprocess.run(
            [sys.executable, "-m", "strangler", "shadow", "replay", str(corpus), "--primary", up.url,
             "--candidate", up.url, "--format", "json"],
            capture_output=True, text=True, env=capture_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    done = replay(tmp_path, broken)
    assert done.returncode == 65 and "broken.jsonl:1: not JSON" in said(done), done.stderr
