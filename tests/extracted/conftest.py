"""Fixtures for the extracted services: the session's Tansu broker and migrated service databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acl.conftest import kafka_bootstrap, tansu

__all__ = ["kafka_bootstrap", "ledger_db", "tansu"]
REPO = Path(__file__).resolve().parents[2]


def migrate_ledger(url: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "STRANGLER_LEDGER_DATABASE_URL": url,
    }
    subprocess.run(
        [sys.executable, "-m", "extracted.ledger_query.manage", "migrate", "-v0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=180,
    )


@pytest.fixture
def ledger_db(fresh_database: Callable[[str], str]) -> str:
    """A fresh ledger database migrated by the service's own migrations (incl. its inbox)."""
    url = fresh_database("ledger")
    migrate_ledger(url)
    return url
