"""Fixtures for the notification service: its migrated database, a real SMTP server process,
and the worker (consumer + dispatcher) on the session's Tansu broker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from extracted.notifications.channels import Channel, FileChannel
from extracted.notifications.consume import NotificationsService, build
from extracted.notifications.decisions import Decisions
from extracted.notifications.domain import RetryPolicy
from extracted.notifications.smtp import SmtpChannel
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.extracted_notifications.servers import SmtpServer, smtp_server

__all__ = ["kafka_bootstrap", "tansu"]
REPO = Path(__file__).resolve().parents[2]
FAST_RETRY = RetryPolicy(max_attempts=3, base=0.2, cap=0.5)


def migrate_notifications(url: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_NOTIFICATIONS_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "extracted.notifications.manage", "migrate", "-v0"],
                   cwd=REPO, env=env, check=True, timeout=180)


@pytest.fixture
def notifications_db(fresh_database: Callable[[str], str]) -> str:
    url = fresh_database("notifications")
    migrate_notifications(url)
    return url


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path / "maildir") as server:
        yield server


def channel_map(smtp_port: int, outbox: Path, timeout: float = 2.0) -> dict[str, Channel]:
    return {"email": SmtpChannel("127.0.0.1", smtp_port, "no-reply@paystream.example", timeout=timeout),
            "sms": FileChannel("sms", outbox), "push": FileChannel("push", outbox)}


WorkerFactory = Callable[[Decisions, dict[str, Channel]], NotificationsService]


@pytest.fixture
def start_worker(notifications_db: str, kafka_bootstrap: str) -> Iterator[WorkerFactory]:
    """``start_worker(decisions, channels)``: the worker in a thread of this process, own group."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(decisions: Decisions, channels: dict[str, Channel]) -> NotificationsService:
        service = build(notifications_db, kafka_bootstrap, decisions, channels, policy=FAST_RETRY,
                        group=f"notifications-{uuid.uuid4().hex[:8]}", max_attempts=2)
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        running.append((stop, thread))
        return service

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(30)
