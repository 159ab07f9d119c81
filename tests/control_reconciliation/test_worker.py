"""A run on REAL Celery workers (subprocesses, filesystem broker in a tmp STRANGLER_HOME).

The first worker is killed with SIGKILL after it checkpointed the first comparison (a
hold file parks it there); the run stays ``running``, never ``clean``. A second worker
receives the resume sweep, which re-enqueues the run, and finishes it from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery
from django.db import connections

from reconcile import manifest as mf
from strangler.config import get_settings
from strangler.control.celery_app import QUEUE, broker_config
from strangler.control.reconciliation import services
from strangler.control.reconciliation.config import ReconcileConfig
from strangler.control.reconciliation.models import ReconciliationRun
from tests.reconcile.conftest import LedgerPair

pytestmark = pytest.mark.django_db(transaction=True, databases=["control"])
DEADLINE_SECONDS = 90
KEY = "worker-test-key"


def _control_url() -> str:
    db = connections["control"].settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def producer(home: Path) -> Celery:
    """A client on the workers' broker folder (this process's own app points elsewhere)."""
    client = Celery("test-producer")
    client.conf.update(**broker_config(dataclasses.replace(get_settings(), home=home)))
    return client


@pytest.fixture
def start_worker(home: Path, pair: LedgerPair, tmp_path: Path) -> Iterator[
        Callable[[str], subprocess.Popen[bytes]]]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "strangler.control.settings",
           "STRANGLER_HOME": str(home), "STRANGLER_CONTROL_DATABASE_URL": _control_url(),
           "STRANGLER_RECONCILE_LEGACY_URL": pair.legacy,
           "STRANGLER_RECONCILE_EXTRACTED_URL": pair.extracted,
           "STRANGLER_RECONCILE_SIGNING_KEY": KEY,
           "STRANGLER_RECONCILE_HOLD_FILE": str(tmp_path / "hold"),
           "STRANGLER_LOG_FORMAT": "console"}

    def start(name: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "strangler.control.celery_app", "worker",
             "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-Q", QUEUE, "-n", f"{name}-{os.getpid()}@%h"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).parents[2]))
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        print(log.read_text(errors="replace")[-3000:])


def wait_for(what: str, condition: Callable[[], bool], worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.poll() is None, "the celery worker exited early; see its log below"
        time.sleep(0.1)  # polling interval, not a correctness wait: the deadline decides
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


def test_a_run_killed_half_way_is_never_clean_and_resumes_to_clean_on_a_new_worker(
        producer: Celery, start_worker: Callable[[str], subprocess.Popen[bytes]],
        tmp_path: Path) -> None:
    (tmp_path / "hold").touch()
    run = services.start_run("ledger", requested_by="worker-test")
    first = start_worker("first")
    producer.send_task("reconciliation.run", args=[run.pk], queue=QUEUE)

    def checkpointed() -> bool:
        run.refresh_from_db()
        return len(run.checkpoint.get("done", {})) >= 1

    wait_for("the first comparison checkpointed", checkpointed, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    run.refresh_from_db()
    assert run.status == "running" and run.manifest is None and run.attempts == 1
    done_before = set(run.checkpoint["done"])

    (tmp_path / "hold").unlink()
    second = start_worker("second")
    producer.send_task("reconciliation.resume", queue=QUEUE)

    def finished() -> bool:
        run.refresh_from_db()
        return run.finished

    wait_for("the resumed run finished", finished, second)
    assert run.status == "clean" and run.attempts == 2
    assert done_before < set(run.checkpoint["done"])
    assert run.manifest is not None and run.manifest["coverage"]["full"]
    key = ReconcileConfig(run.mapping_source, None, mf.derive_key(KEY), 1, None).signing_key
    assert mf.verify_chain(services.chain("ledger"), key) == []

    # Delivered again (duplicate message): the finished run is left exactly as it is.
    producer.send_task("reconciliation.run", args=[run.pk], queue=QUEUE)
    producer.send_task("reconciliation.run", args=[-1], queue=QUEUE)  # a marker behind it
    log = tmp_path / "second.log"
    wait_for("both messages consumed", lambda: log.read_text(errors="replace").count(
        "reconciliation.run[") >= 6, second)  # received + done, three tasks
    again = ReconciliationRun.objects.get(pk=run.pk)
    assert (again.attempts, again.signature, again.sequence) == (2, run.signature, run.sequence)
