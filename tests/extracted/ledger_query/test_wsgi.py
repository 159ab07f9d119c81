"""The ledger's WSGI entry point serves the ledger, or refuses to start.

A process started with the monolith's environment (``DJANGO_SETTINGS_MODULE=monolith.settings``)
used to get the monolith's URLs and database under the ledger's name: the read-path bench
measured the monolith against itself that way for three sessions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROBE = "import extracted.ledger_query.wsgi; from django.conf import settings; print(settings.ROOT_URLCONF)"


def _import_wsgi(settings_module: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if settings_module is not None:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    return subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_defaults_to_the_ledger_settings() -> None:
    done = _import_wsgi(None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "extracted.ledger_query.urls"


def test_accepts_the_ledger_settings_named_explicitly() -> None:
    done = _import_wsgi("extracted.ledger_query.settings")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "extracted.ledger_query.urls"


def test_refuses_another_projects_settings_with_a_clear_error() -> None:
    done = _import_wsgi("monolith.settings")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DJANGO_SETTINGS_MODULE='monolith.settings'" in done.stderr
    assert "would serve that project, not the ledger" in done.stderr
