"""The test plugin: a run stopped with SIGTERM still tears its fixtures down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

INNER = '''
import subprocess, time
import pytest

@pytest.fixture
def child():
    proc = subprocess.Popen(["sleep", "300"])
    (OUT / "pid").write_text(str(proc.pid))
    yield proc
    proc.kill()
    proc.wait()
    (OUT / "torn-down").write_text("yes")

def test_waits(child):
    time.sleep(300)
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_tears_the_fixtures_down(tmp_path: Path) -> None:
    header = f"from pathlib import Path\nOUT = Path({str(tmp_path)!r})\n"
    (tmp_path / "test_inner.py").write_text(header + INNER)
    env = {**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": "postgresql://unused/x"}  # no PostgreSQL needed
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "strangler.testing.plugin", "-p",
                            "no:cacheprovider", "-p", "no:django", "test_inner.py"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "pid").exists():
            assert time.monotonic() < deadline and run.poll() is None, run.stdout.read() if run.stdout else ""
            time.sleep(0.1)
        child = int((tmp_path / "pid").read_text())
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    finally:
        run.kill()
    assert (tmp_path / "torn-down").exists()
    assert not _alive(child)
