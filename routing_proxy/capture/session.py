"""One ``strangler capture`` run: check everything, run mitmdump with the addon, follow it, stop it cleanly.

Before anything starts (and before any file is made) the output path, the listening
port and the upstream are checked, each failure a clear message. mitmdump then runs
as a child process in its own session, so a terminal's Ctrl-C reaches only us and we
forward exactly one SIGINT; its stdin is a lifeline pipe, so if this process dies
(even by SIGKILL) mitmdump notices and stops cleanly on its own. Events come back as
JSON lines on a pipe (see ``addon``).

The flow file: mitmdump appends to ``OUT.partial`` and moves it to ``OUT`` on a clean
stop. If mitmdump itself dies, we cut a torn last record off the partial file and move
it to ``OUT`` all the same (every whole flow kept), and say so with a non-zero exit.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from routing_proxy.capture import flowfile
from routing_proxy.capture.errors import CaptureError, CaptureStartError, OutputPathError
from routing_proxy.capture.runtime import Runtime

ADDON = Path(__file__).with_name("addon.py")
BOOT = "import sys; from mitmproxy.tools.main import mitmdump; sys.exit(mitmdump())"
STOP_GRACE_S = 20.0  # how long a stopping mitmdump gets to finish its file before SIGKILL
START_TIMEOUT_S = 60.0
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class CaptureOptions:
    upstream: str
    out: Path
    listen_port: int
    listen_host: str = "127.0.0.1"
    max_flows: int | None = None
    duration_s: float | None = None


@dataclass
class CaptureResult:
    path: Path
    flows: int
    stopped_by: str  # "interrupt", "max-flows", "duration", "stopped" (mitmdump was stopped directly)
    log: Path
    events: list[dict[str, Any]] = field(default_factory=list)


Event = Callable[[dict[str, Any]], None]


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def expand_out(pattern: str, now: datetime | None = None) -> Path:
    """``--out`` may hold strftime codes: ``flows/%Y%m%d-%H%M%S.flow``."""
    if "%" not in pattern:
        return Path(pattern)
    try:
        return Path((now or datetime.now()).strftime(pattern))
    except ValueError as exc:
        raise OutputPathError(f"--out {pattern!r} has an invalid date code ({exc})") from exc


def check_upstream_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureStartError(f"--upstream {url!r} is not an http(s) URL like http://127.0.0.1:8000")
    if parts.path not in ("", "/") or parts.query:
        raise CaptureStartError(f"--upstream {url!r} must be a base URL without a path or query")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise CaptureStartError(f"--upstream {url!r} has an invalid port") from exc
    return parts.hostname, port


def check_output(out: Path) -> None:
    """Refuse before anything starts: an existing file, a leftover partial file, a directory."""
    partial = partial_path(out)
    if out.exists():
        raise OutputPathError(f"{out} already exists; nothing was recorded. Choose another --out "
                              "(it may hold strftime codes, e.g. flows/%Y%m%d-%H%M%S.flow) or move it away")
    if partial.exists():
        raise OutputPathError(
            f"{partial} exists: another capture to {out} is running, or one was killed before it could "
            f"finish. Its whole flows are readable (`strangler shadow replay {partial} …`); nothing was "
            "recorded. Move it away or choose another --out")


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mitmproxy binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CaptureStartError(
                    f"port {port} on {host} is taken by another process; nothing was recorded. Choose "
                    f"another --listen-port or stop that process (`ss -ltnp 'sport = :{port}'` names it)"
                ) from exc
            raise CaptureStartError(f"cannot listen on {host}:{port} ({exc.strerror}); nothing was recorded. "
                                    "Check --listen-host and --listen-port") from exc


def check_upstream(url: str, timeout: float = 3.0) -> None:
    host, port = check_upstream_url(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise CaptureStartError(f"the upstream {url} is not reachable ({why}); nothing was recorded. "
                                "Start it (e.g. `strangler up`) or fix --upstream") from exc


def create_partial(out: Path) -> Path:
    partial = partial_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot write {out}: its folder {out.parent} cannot be made "
                              f"({exc.strerror or 'a file is in the way'}); nothing was recorded. "
                              "Choose a writable --out") from exc
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise OutputPathError(f"{partial} appeared meanwhile; nothing was recorded") from exc
    except OSError as exc:
        raise OutputPathError(f"cannot write {partial} ({exc.strerror}); nothing was recorded. Choose a "
                              "writable --out") from exc
    os.close(fd)
    return partial


def mitmdump_argv(runtime: Runtime, options: CaptureOptions, partial: Path, events_fd: int,
                  confdir: Path) -> list[str]:
    sets = {
        "strangler_out": str(partial.resolve()),
        "strangler_final": str(options.out.resolve()),
        "strangler_max_flows": str(options.max_flows or 0),
        "strangler_events_fd": str(events_fd),
        "strangler_lifeline": "true",
        "keep_host_header": "true",  # the monolith builds absolute URLs from the client's Host
        "confdir": str(confdir),
        "flow_detail": "0",
        "termlog_verbosity": "warn",
    }
    argv = [str(runtime.python), "-c", BOOT, "--mode", f"reverse:{options.upstream.rstrip('/')}",
            "--listen-host", options.listen_host, "--listen-port", str(options.listen_port),
            "-s", str(ADDON)]
    for name, value in sets.items():
        argv += ["--set", f"{name}={value}"]
    return argv


class _Stop(Exception):
    """SIGTERM asked us to stop (SIGINT arrives as KeyboardInterrupt)."""


@contextlib.contextmanager
def _sigterm_as_stop() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n  ".join(line for line in text[-lines:] if line.strip())


class Capture:
    """A running capture; ``run`` blocks until it stops and returns what it recorded."""

    def __init__(self, runtime: Runtime, options: CaptureOptions, home: Path,
                 on_event: Event = lambda _: None) -> None:
        self.runtime = runtime
        self.options = options
        self.home = home
        self.on_event = on_event
        self.log = home / "logs" / "capture.log"
        self.flows = 0
        self.events: list[dict[str, Any]] = []
        self.buffer = b""
        self.child: subprocess.Popen[bytes] | None = None

    def preflight(self) -> None:
        check_upstream_url(self.options.upstream)
        check_output(self.options.out)
        check_port(self.options.listen_host, self.options.listen_port)
        check_upstream(self.options.upstream)

    def run(self) -> CaptureResult:
        self.preflight()
        partial = create_partial(self.options.out)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        confdir = self.home / "mitmproxy"
        confdir.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        try:
            with self.log.open("ab") as log:
                log.write(f"\n--- capture {datetime.now().isoformat()} → {self.options.out}\n".encode())
                log.flush()
                self.child = subprocess.Popen(
                    mitmdump_argv(self.runtime, self.options, partial, write_fd, confdir),
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,),
                    start_new_session=True)
        except OSError as exc:
            os.close(read_fd)
            partial.unlink(missing_ok=True)
            raise CaptureStartError(f"cannot start mitmdump with {self.runtime.python} ({exc})") from exc
        finally:
            os.close(write_fd)
        with _sigterm_as_stop(), selectors.DefaultSelector() as selector:
            selector.register(read_fd, selectors.EVENT_READ)
            try:
                return self._follow(selector, read_fd, partial)
            finally:
                os.close(read_fd)
                self._reap()

    # -- following the child ----------------------------------------------------------------------

    def _follow(self, selector: selectors.BaseSelector, read_fd: int, partial: Path) -> CaptureResult:
        assert self.child is not None
        started = time.monotonic()
        listening_at: float | None = None
        stopped_by = ""
        stop_sent_at: float | None = None
        eof = False
        while True:
            now = time.monotonic()
            if listening_at is None and now - started > START_TIMEOUT_S:
                self._kill()
                partial.unlink(missing_ok=True)
                raise CaptureStartError(f"mitmdump did not start within {START_TIMEOUT_S:g}s; see {self.log}")
            if (not stopped_by and listening_at is not None and self.options.duration_s is not None
                    and now - listening_at >= self.options.duration_s):
                stopped_by = "duration"
                stop_sent_at = self._interrupt()
            if stop_sent_at is not None and now - stop_sent_at > STOP_GRACE_S:
                self._kill()
            try:
                if not eof:
                    for _ in selector.select(timeout=0.2):
                        chunk = os.read(read_fd, 65536)
                        if not chunk:
                            eof = True
                            selector.unregister(read_fd)
                        for event in self._events(chunk):
                            if event["event"] == "listening":
                                listening_at = time.monotonic()
                            elif event["event"] == "done" and not stopped_by:
                                limit = self.options.max_flows
                                stopped_by = "max-flows" if limit and self.flows >= limit else "stopped"
                            self.on_event(event)
                else:
                    time.sleep(0.05)
                if eof and self.child.poll() is not None:
                    break
                if self.child.poll() is not None and not eof:
                    continue  # drain what it wrote before it exited
            except (KeyboardInterrupt, _Stop):
                if not stopped_by:
                    stopped_by = "interrupt"
                    stop_sent_at = self._interrupt()
                    self.on_event({"event": "stopping"})
        return self._finish(partial, listening_at is not None, stopped_by)

    def _events(self, chunk: bytes) -> list[dict[str, Any]]:
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        found = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                if event["event"] == "flow":
                    self.flows = int(event.get("n", self.flows + 1))
                self.events.append(event)
                found.append(event)
        return found

    def _interrupt(self) -> float:
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signal.SIGINT)
        return time.monotonic()

    def _kill(self) -> None:
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.kill()
            self.child.wait()

    def _reap(self) -> None:
        if self.child is None:
            return
        if self.child.poll() is None:
            self._interrupt()
            try:
                self.child.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._kill()
        if self.child.stdin is not None:
            with contextlib.suppress(OSError):
                self.child.stdin.close()

    def _finish(self, partial: Path, listened: bool, stopped_by: str) -> CaptureResult:
        assert self.child is not None
        code = self.child.returncode
        done = next((e for e in self.events if e["event"] == "done"), None)
        out = self.options.out
        if done is not None and not partial.exists():
            return CaptureResult(Path(done["path"]), int(done["flows"]), stopped_by, self.log, self.events)
        if not listened:
            if partial.exists() and partial.stat().st_size == 0:
                partial.unlink()
            raise CaptureStartError(
                f"mitmdump could not start (exit {code}); nothing was recorded. From {self.log}:\n  "
                + _tail(self.log))
        how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
        kept = flowfile.salvage(partial)
        cut = f"; a torn last record ({kept.torn_bytes} bytes) was cut off" if kept.torn_bytes else ""
        try:
            os.link(partial, out)
            partial.unlink()
            where = out
        except OSError:
            where = partial
        raise CaptureError(
            f"mitmproxy stopped unexpectedly ({how}) after {self.flows} flows. The {kept.records} whole "
            f"flows recorded are in {where}{cut}. See {self.log}")
