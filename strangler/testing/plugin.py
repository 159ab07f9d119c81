"""pytest plugin: give the test run a real PostgreSQL without asking anything of the machine.

Loaded with ``-p strangler.testing.plugin`` (see pyproject) so it runs before
Django settings are read. Unless ``STRANGLER_MONOLITH_DATABASE_URL`` names a
server, it starts the embedded PostgreSQL on its own port (``STRANGLER_PG_PORT``,
55439 for tests so a running ``strangler up`` is left alone) and stops it at
the end. pytest-django then creates its ``test_*`` databases on it.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("STRANGLER_ENV", "test")
os.environ.setdefault("STRANGLER_PG_PORT", "55439")
os.environ.setdefault("STRANGLER_HOME", str(Path(tempfile.gettempdir()) / "strangler-test-home"))

_server = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    # A run stopped with SIGTERM (a CI timeout, `timeout`, `kill`) tears down like Ctrl-C: the
    # fixtures stop the stacks they started (Tansu, gunicorns, Celery workers, PostgreSQL)
    # instead of leaving them running with the ports and cores they hold.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if os.environ.get("STRANGLER_MONOLITH_DATABASE_URL"):
        return
    if hasattr(config, "workerinput"):  # an xdist worker: the controller started it
        return
    from strangler.stack.postgres import EmbeddedPostgres

    port = int(os.environ["STRANGLER_PG_PORT"])
    data = Path(tempfile.gettempdir()) / f"strangler-test-pg-{port}" / "data"
    server = EmbeddedPostgres(data, port)
    # Another test run on this machine may be using the same server: share it, leave it running.
    if not server.running():
        _server = server
    server.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
