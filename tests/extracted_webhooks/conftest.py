"""Fixtures for the webhook service: its migrated database, a REAL Celery worker, the API
under gunicorn, and the event consumer on the session's Tansu broker.

Every process gets the same environment (``service_env``): the test database, a private
STRANGLER_HOME (so the filesystem Celery broker folder is this test's alone), loopback
explicitly allowlisted, and short backoff/timeouts so retries happen within the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from extracted.webhooks.consume import WebhooksConsumer, build, celery_enqueue
from strangler.stack.net import free_port
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.acl.helpers import wait_until

__all__ = ["kafka_bootstrap", "tansu"]
REPO = Path(__file__).resolve().parents[2]
DELIVERY_ATTEMPTS = 3



def migrate_webhooks(url: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_WEBHOOKS_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "extracted.webhooks.manage", "migrate", "-v0"],
                   cwd=REPO, env=env, check=True, timeout=180)


@pytest.fixture
def webhooks_db(fresh_database: Callable[[str], str]) -> str:
    url = fresh_database("webhooks")
    migrate_webhooks(url)
    return url


@pytest.fixture
def service_env(webhooks_db: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "STRANGLER_REDIS_URL")}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "extracted.webhooks.settings",
        "STRANGLER_HOME": str(tmp_path / "home"),
        "STRANGLER_WEBHOOKS_DATABASE_URL": webhooks_db,
        "STRANGLER_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8,::1",
        "STRANGLER_WEBHOOKS_MAX_ATTEMPTS": str(DELIVERY_ATTEMPTS),
        "STRANGLER_WEBHOOKS_BACKOFF_BASE_SECONDS": "0.2",
        "STRANGLER_WEBHOOKS_BACKOFF_CAP_SECONDS": "1",
        "STRANGLER_WEBHOOKS_TIMEOUT_SECONDS": "1",
        "STRANGLER_WEBHOOKS_CONNECT_TIMEOUT_SECONDS": "1",
        "STRANGLER_LOG_FORMAT": "console",
        # the service alone, no monolith to strangle (test_flip.py turns the flag on)
        "STRANGLER_WEBHOOKS_CAPABILITY": "none",
    }


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    print(f"--- {log.name} ---\n" + log.read_text(errors="replace")[-3000:])


@pytest.fixture
def worker(service_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` process (thread pool, so a hanging receiver blocks one slot only)."""
    log = tmp_path / "worker.log"
    proc = _spawn(["celery", "-A", "extracted.webhooks.celery_app", "worker", "-Q", "webhooks",
                   "--pool=threads", "--concurrency=8", "--loglevel=INFO", "--without-gossip",
                   "--without-mingle", "--without-heartbeat", "-n", f"webhooks-{uuid.uuid4().hex[:6]}@%h"],
                  service_env, log)
    yield proc
    _stop(proc, log)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def api(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The service's HTTP API under gunicorn; yields its base URL."""
    port, log = free_port(), tmp_path / "api.log"
    proc = _spawn(["gunicorn", "extracted.webhooks.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", "1", "--threads", "4"], service_env, log)
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{port}/readyz"), 60, "the webhooks API")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc, log)


@pytest.fixture
def consumer(webhooks_db: str, kafka_bootstrap: str,
             service_env: dict[str, str]) -> Iterator[WebhooksConsumer]:
    """The event consumer in a thread of this process, enqueuing to the worker's broker folder."""
    folder = Path(service_env["STRANGLER_HOME"]) / "celery" / "webhooks"
    running = build(webhooks_db, kafka_bootstrap, celery_enqueue("filesystem://", folder),
                    group=f"webhooks-{uuid.uuid4().hex[:8]}", max_attempts=2,
                    delivery_attempts=DELIVERY_ATTEMPTS)
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop,), daemon=True)
    thread.start()
    yield running
    stop.set()
    thread.join(30)
