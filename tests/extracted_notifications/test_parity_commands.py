"""The two side-effect parity commands operators and CI run: bad windows are refused before
anything is read, and ``--fail-on-difference`` fails when nothing was compared (no evidence
is not parity), as the routing gate does with too few samples."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.db import connections

from tests.extracted_notifications.conftest import REPO
from tests.extracted_webhooks.conftest import migrate_webhooks

pytestmark = pytest.mark.django_db(transaction=True)


def _url(alias: str) -> str:
    s = connections[alias].settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgresql://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _run(service: str, command: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, "-m", f"extracted.{service}.manage", command, *args],
                          cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("hours", ["0", "-1", "nan", "inf", "a day"])
def test_compare_notifications_refuses_a_window_that_is_not_a_finite_positive_number(
        hours: str, notifications_db: str) -> None:
    done = _run("notifications", "compare_notifications", "--hours", hours,
                STRANGLER_NOTIFICATIONS_DATABASE_URL=notifications_db)
    assert done.returncode != 0
    assert "--hours" in done.stderr and ("above 0" in done.stderr or "not a number" in done.stderr)


def test_compare_notifications_fails_the_gate_when_nothing_was_compared(notifications_db: str) -> None:
    args = ("--hours", "1", "--legacy-database-url", _url("default"))
    quiet = _run("notifications", "compare_notifications", *args,
                 STRANGLER_NOTIFICATIONS_DATABASE_URL=notifications_db)
    assert quiet.returncode == 0 and "0 match, 0 differ (of 0" in quiet.stdout  # a report, not a gate
    gate = _run("notifications", "compare_notifications", *args, "--fail-on-difference",
                STRANGLER_NOTIFICATIONS_DATABASE_URL=notifications_db)
    assert gate.returncode != 0 and "nothing was compared in the last 1 h" in gate.stderr


@pytest.mark.parametrize(("flag", "value"), [("--minutes", "0"), ("--minutes", "inf"), ("--show", "-1")])
def test_webhooks_parity_refuses_bad_numbers(flag: str, value: str) -> None:
    done = _run("webhooks", "webhooks_parity", flag, value)
    assert done.returncode == 2 and flag in done.stderr


def test_webhooks_parity_fails_the_gate_when_nothing_was_compared(
        fresh_database: Callable[[str], str]) -> None:
    url = fresh_database("webhooks_parity")
    migrate_webhooks(url)
    args = ("--monolith-database-url", _url("default"), "--minutes", "30")
    quiet = _run("webhooks", "webhooks_parity", *args, STRANGLER_WEBHOOKS_DATABASE_URL=url)
    assert quiet.returncode == 0, quiet.stderr
    assert "0 matching, 0 differing" in quiet.stdout
    gate = _run("webhooks", "webhooks_parity", *args, "--fail-on-difference",
                STRANGLER_WEBHOOKS_DATABASE_URL=url)
    assert gate.returncode == 1 and "nothing was compared in the last 30 min" in gate.stdout
