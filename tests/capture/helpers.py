"""Real processes for the capture tests: `strangler capture` as a subprocess, small real HTTP servers,
and mitmproxy's own FlowReader (run in the mitmproxy interpreter) to read what was written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from routing_proxy.capture.runtime import Runtime
from strangler.stack.net import free_port

API_KEY = "ps_test_Zx9secretKEYvalue0123456789abcd"
SESSION = "s3ss10nV4lu3NotForFiles"
ACCOUNT = "123456789012"
WEBHOOK_SECRET = "whsec_TopSecretSigningValue"
START_TIMEOUT = 120.0

# Run in the mitmproxy interpreter: every flow mitmproxy's FlowReader yields, then any read error.
READ_FLOWS = r"""
import json, sys
from mitmproxy import exceptions
from mitmproxy.io import FlowReader
flows, error = [], None
with open(sys.argv[1], "rb") as f:
    try:
        for flow in FlowReader(f).stream():
            r = flow.request
            flows.append({
                "method": r.method, "path": r.path, "headers": [[k, v] for k, v in r.headers.items(True)],
                "body": (r.get_content(strict=False) or b"").decode("utf-8", "replace"),
                "status": flow.response.status_code if flow.response else None,
                "response_headers": [[k, v] for k, v in flow.response.headers.items(True)]
                                    if flow.response else [],
                "response_body": (flow.response.get_content(strict=False) or b"").decode("utf-8", "replace")
                                 if flow.response else "",
            })
    except exceptions.FlowReadException as exc:
        error = str(exc)
print(json.dumps({"flows": flows, "error": error}))
"""


def read_flows(mitm: Runtime, path: Path) -> dict[str, Any]:
    """What mitmproxy's own FlowReader makes of ``path``: {"flows": [...], "error": str | None}."""
    done = subprocess.run([str(mitm.python), "-c", READ_FLOWS, str(path)], capture_output=True, text=True,
                          timeout=120, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def headers_of(flow: dict[str, Any], key: str = "headers") -> dict[str, str]:
    return {k.lower(): v for k, v in flow[key]}


# -- a small real upstream -----------------------------------------------------------------------


@dataclass
class Upstream:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


def _echo_handler(received: list[dict[str, Any]], answer: Callable[[dict[str, Any]], dict[str, Any]] | None
                  ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace")}
            received.append(seen)
            document = answer(seen) if answer else {
                "echo": seen["path"], "method": seen["method"], "secret": WEBHOOK_SECRET,
                "account_number": ACCOUNT, "note": f"paid to account {ACCOUNT}"}
            payload = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Set-Cookie", f"sessionid={SESSION}; Path=/; HttpOnly")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def upstream(answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Iterator[Upstream]:
    received: list[dict[str, Any]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _echo_handler(received, answer))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Upstream(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()


# -- `strangler capture` as a real subprocess ------------------------------------------------------


@dataclass
class Running:
    proc: subprocess.Popen[str]
    port: int
    out: Path
    lines: list[str]
    reader: threading.Thread
    mitm_pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.wait()


def capture_env(home: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "STRANGLER_HOME": str(home), "COLUMNS": "200"}


def run_capture(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "strangler", "capture", *args], capture_output=True,
                          text=True, env=capture_env(home), timeout=timeout, stdin=subprocess.DEVNULL)


def start_capture(home: Path, upstream_url: str, out: Path, *extra: str, port: int | None = None
                  ) -> Running:
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "strangler", "capture", "--upstream", upstream_url, "--listen-port", str(port),
         "--out", str(out), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=capture_env(home),
        stdin=subprocess.DEVNULL)
    lines: list[str] = []
    assert proc.stderr is not None
    stream = proc.stderr

    def pump() -> None:
        for line in stream:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    running = Running(proc, port, out, lines, reader)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"mitmproxy pid (\d+)", running.stderr)
        if found:
            running.mitm_pid = int(found.group(1))
            return running
        if proc.poll() is not None:
            reader.join(timeout=5)
            raise AssertionError(f"capture exited {proc.returncode} before listening:\n{running.stderr}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"capture did not start within {START_TIMEOUT}s:\n{running.stderr}")


def wait_for_flows(running: Running, count: int, timeout: float = 30) -> None:
    """The CLI has been told of ``count`` written flows (it prints the counter at most once a second)."""
    partial = running.out.with_name(running.out.name + ".partial")
    from routing_proxy.capture.flowfile import scan

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if partial.exists() and scan(partial.read_bytes()).records >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} flows not written within {timeout}s:\n{running.stderr}")
