"""One supervised child process: start it, wait until healthy, watch it, stop it cleanly.

Each process logs to its own file under ``$STRANGLER_HOME/logs``; when it fails
to start, the error carries the tail of that log so nobody has to go looking.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from strangler.errors import StackError

HealthCheck = Callable[[], bool]


def log_tail(path: Path, chars: int = 2500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log written)"


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    health: HealthCheck
    env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    stop_timeout: float = 10.0
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
        )
        log.close()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(
                    f"{self.name} exited during start-up (exit code {self.exit_code()}).\n"
                    f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
                )
            if self.health():
                return
            time.sleep(0.1)
        raise StackError(
            f"{self.name} did not become healthy within {self.start_timeout:.0f}s.\n"
            f"--- last lines of {self.log_path} ---\n{log_tail(self.log_path)}"
        )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        except ProcessLookupError:
            pass
