"""`strangler capture` as a real process in front of a real HTTP server: redaction, clean stops, kills.

The client must get the upstream's answer untouched; only the flow file is redacted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from routing_proxy.capture.flowfile import scan
from routing_proxy.capture.runtime import Runtime
from shadow.replay import read_corpus, replay
from shadow.rules import RuleSet
from shadow.sink import CandidateSink, SinkConfig
from shadow.store import InMemoryObservationStore
from tests.capture.helpers import (
    ACCOUNT,
    API_KEY,
    SESSION,
    WEBHOOK_SECRET,
    capture_env,
    headers_of,
    read_flows,
    start_capture,
    upstream,
    wait_for_flows,
)

SECRETS = (API_KEY, SESSION, ACCOUNT, WEBHOOK_SECRET, "hunter2-password", "Zx9secretKEY", "csrfTOKENvalue")


def send_traffic(url: str) -> list[httpx.Response]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [
            client.get("/api/v1/merchant/?api_key=" + API_KEY, headers={
                "Authorization": f"Api-Key {API_KEY}", "X-Api-Key": API_KEY,
                "Cookie": f"sessionid={SESSION}; csrftoken=csrfTOKENvalue", "X-Request-ID": "cap-1"}),
            client.post("/api/v1/bank-accounts/", headers={"Authorization": f"Api-Key {API_KEY}"},
                        json={"account_number": ACCOUNT, "ifsc": "HDFC0001234", "holder_name": "A",
                              "description": f"to {ACCOUNT}"}),
            client.post("/admin/login/", data={"username": "ops", "password": "hunter2-password",
                                               "csrfmiddlewaretoken": "csrfTOKENvalue"}),
        ]


def test_capture_records_redacted_flows_and_stops_cleanly_on_ctrl_c(tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "flows" / "day.flow"
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, out)
        responses = send_traffic(running.url)
        wait_for_flows(running, 3)
        code = running.interrupt()
    assert code == 0, running.stderr
    assert "captured 3 flows" in running.stderr and str(out) in running.stderr
    # the client and the upstream saw the real thing, untouched
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json()["secret"] == WEBHOOK_SECRET
    assert responses[0].headers["set-cookie"].startswith(f"sessionid={SESSION};")
    assert up.received[0]["headers"]["Authorization"] == f"Api-Key {API_KEY}"
    assert up.received[0]["headers"]["Host"] == running.url.removeprefix("http://")  # Host kept
    # the file: complete, no partial left, readable by mitmproxy, every secret gone
    assert out.exists() and not out.with_name("day.flow.partial").exists()
    raw = out.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret} leaked into the flow file"
    read = read_flows(mitm, out)
    assert read["error"] is None
    flows = read["flows"]
    assert [(f["method"], f["status"]) for f in flows] == [("GET", 200), ("POST", 200), ("POST", 200)]
    get, bank, login = flows
    request = headers_of(get)
    assert request["authorization"] == "Api-Key [redacted]"
    assert request["x-api-key"] == "[redacted]"
    assert request["cookie"] == "sessionid=[redacted]; csrftoken=[redacted]"
    assert request["x-request-id"] == "cap-1"
    assert get["path"] == "/api/v1/merchant/?api_key=%5Bredacted%5D"
    assert headers_of(get, "response_headers")["set-cookie"] == "sessionid=[redacted]; Path=/; HttpOnly"
    answer = json.loads(get["response_body"])
    assert answer["secret"] == "[redacted]" and answer["account_number"] == "[redacted]"
    assert answer["note"] == "paid to account ********9012"
    sent = json.loads(bank["body"])
    assert sent["account_number"] == "[redacted]" and sent["description"] == "to ********9012"
    assert sent["ifsc"] == "HDFC0001234"
    assert headers_of(bank)["content-length"] == str(len(bank["body"].encode()))
    assert "password=%5Bredacted%5D" in login["body"] and "username=ops" in login["body"]


def test_max_flows_stops_by_itself_and_duration_too(tmp_path: Path, mitm: Runtime) -> None:
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, tmp_path / "two.flow", "--max-flows", "2")
        with httpx.Client(base_url=running.url, timeout=30) as client:
            for n in range(2):
                assert client.get(f"/n/{n}").status_code == 200
        assert running.wait() == 0, running.stderr
        assert "captured 2 flows" in running.stderr and "--max-flows reached" in running.stderr
        assert len(read_flows(mitm, tmp_path / "two.flow")["flows"]) == 2

        started = time.monotonic()
        timed = start_capture(tmp_path / "home", up.url, tmp_path / "timed.flow", "--duration", "1")
        assert timed.wait() == 0, timed.stderr
        assert time.monotonic() - started < 90
        assert "captured 0 flows" in timed.stderr and "--duration reached" in timed.stderr
        assert read_flows(mitm, tmp_path / "timed.flow") == {"flows": [], "error": None}


def test_kill_9_of_mitmproxy_keeps_every_whole_flow(tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "killed.flow"
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, out)
        with httpx.Client(base_url=running.url, timeout=30) as client:
            for n in range(5):
                assert client.get(f"/api/v1/wallets/{n}/", headers={"Authorization": f"Api-Key {API_KEY}"}
                                  ).status_code == 200
        wait_for_flows(running, 5)
        os.kill(running.mitm_pid, signal.SIGKILL)
        code = running.wait()
    assert code == 1, running.stderr
    assert "mitmproxy stopped unexpectedly (signal 9)" in running.stderr
    assert "5 whole flows" in running.stderr
    read = read_flows(mitm, out)
    assert read["error"] is None
    assert [f["path"] for f in read["flows"]] == [f"/api/v1/wallets/{n}/" for n in range(5)]


def test_kill_9_of_the_cli_lets_mitmproxy_finish_the_file_and_exit(tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "orphan.flow"
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, out)
        with httpx.Client(base_url=running.url, timeout=30) as client:
            assert client.get("/one").status_code == 200
        wait_for_flows(running, 1)
        running.proc.kill()
        running.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not out.exists():
            time.sleep(0.1)
    assert out.exists(), "mitmproxy did not finish the file after the CLI died"
    assert len(read_flows(mitm, out)["flows"]) == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{running.mitm_pid}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{running.mitm_pid}").exists(), "mitmproxy outlived the CLI"


def test_kill_9_of_both_leaves_a_partial_file_replay_reads_up_to_the_last_whole_flow(
        tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "hard.flow"
    partial = tmp_path / "hard.flow.partial"
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, out)
        with httpx.Client(base_url=running.url, timeout=30) as client:
            for n in range(3):
                assert client.get(f"/h/{n}").status_code == 200
        wait_for_flows(running, 3)
        os.kill(running.mitm_pid, signal.SIGSTOP)  # no chance to notice the CLI dying
        running.proc.kill()
        running.wait()
        os.kill(running.mitm_pid, signal.SIGKILL)
        whole = partial.read_bytes()
        # a kill in the middle of a write: half of another record at the end
        partial.write_bytes(whole + whole[: len(whole) // 6])
        assert not out.exists()
        found = scan(partial.read_bytes())
        assert (found.records, found.end) == (3, len(whole)) and found.torn_bytes > 0
        read = read_flows(mitm, partial)  # mitmproxy's reader: every whole flow, then an error for the tail
        assert [f["path"] for f in read["flows"]] == ["/h/0", "/h/1", "/h/2"] and read["error"]

        report = tmp_path / "report.json"
        done = subprocess.run(
            [sys.executable, "-m", "strangler", "shadow", "replay", str(partial), "--capability", "echo",
             "--primary", up.url, "--candidate", up.url, "--format", "json", "-o", str(report)],
            capture_output=True, text=True, env=capture_env(tmp_path / "home"), timeout=180)
    assert done.returncode == 0, done.stderr
    assert "not a whole flow" in done.stderr and "replaying the 3 whole flows" in done.stderr
    assert "replayed 3 of 3" in done.stderr
    assert json.loads(report.read_text())["total"] == 3


def test_replay_puts_redacted_credentials_back_and_sends_writes_only_when_asked(
        tmp_path: Path, mitm: Runtime) -> None:
    out = tmp_path / "creds.flow"
    with upstream() as up:
        running = start_capture(tmp_path / "home", up.url, out)
        send_traffic(running.url)
        wait_for_flows(running, 3)
        assert running.interrupt() == 0, running.stderr
        up.received.clear()

        corpus = list(read_corpus(out, "echo", set_headers=[("Authorization", f"Api-Key {API_KEY}")]))
        assert [(c.method, c.target.split("?")[0]) for c in corpus] == [
            ("GET", "/api/v1/merchant/"), ("POST", "/api/v1/bank-accounts/"), ("POST", "/admin/login/")]
        assert corpus[0].request_id == "cap-1"
        store = InMemoryObservationStore()

        async def go() -> int:
            sink = CandidateSink(SinkConfig(up.url), RuleSet(), store)
            try:
                return await replay(corpus, up.url, sink)
            finally:
                await sink.close()

        assert asyncio.run(go()) == 1  # writes are not replayed unless asked
    primary, candidate = up.received  # the one GET, on the primary and on the candidate
    for seen in (primary, candidate):
        assert seen["method"] == "GET"
        assert seen["headers"]["Authorization"] == f"Api-Key {API_KEY}"
        assert seen["headers"]["X-Request-ID"] == "cap-1"
        assert seen["headers"]["Host"] == up.url.removeprefix("http://")  # not the captured Host
    assert candidate["headers"]["X-Strangler-Shadow"] == "1"
    assert [o.primary_status for o in store.observations] == [200]
