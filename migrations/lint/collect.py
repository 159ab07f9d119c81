"""Adapter: render the monolith's migrations to SQL (Django), run squawk on them, look up table sizes.

Needs Django set up with the monolith's settings and its database reachable:
``sqlmigrate`` introspects the live schema for some operations.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migrations.lint.errors import LintError
from migrations.lint.findings import Finding, classify

MONOLITH_APPS = ("accounts", "wallets", "payouts", "hooks", "reports")


def squawk_binary() -> str:
    candidate = Path(sys.executable).with_name("squawk")
    found = str(candidate) if candidate.exists() else shutil.which("squawk")
    if not found:
        raise LintError("the squawk linter is not installed; `pip install squawk-cli` (it is a "
                        "dependency of strangler, so reinstalling strangler also brings it).")
    return found


def run_squawk(sql: str) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(sql)
        path = fh.name
    try:
        result = subprocess.run(
            [squawk_binary(), "--reporter", "json", "--assume-in-transaction", path],
            capture_output=True, text=True, check=False, timeout=60,
        )
    finally:
        Path(path).unlink(missing_ok=True)
    if result.returncode not in (0, 1) or not result.stdout.strip().startswith("["):
        raise LintError(f"squawk failed (exit {result.returncode}): {result.stderr.strip()[:500]}")
    return list(json.loads(result.stdout))


def migration_names(apps: Iterable[str]) -> list[tuple[str, str]]:
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    wanted = set(apps)
    return sorted(key for key in loader.disk_migrations if key[0] in wanted)


def sql_of(app: str, name: str) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("sqlmigrate", app, name, stdout=out, no_color=True)
    return out.getvalue()


def table_rows() -> dict[str, int]:
    """Estimated rows per table from the planner's statistics (cheap; no scan)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, GREATEST(c.reltuples, 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public'"
        )
        return {name: int(rows) for name, rows in cursor.fetchall()}


def lint(apps: Iterable[str] = MONOLITH_APPS, *, large_table_rows: int = 100_000,
         only: Iterable[str] = ()) -> list[Finding]:
    """Lint the named apps' migrations (or only ``app.name`` entries given in ``only``)."""
    selected = set(only)
    sizes = table_rows()
    findings: list[Finding] = []
    for app, name in migration_names(apps):
        if selected and f"{app}.{name}" not in selected:
            continue
        sql = sql_of(app, name)
        findings.extend(classify(app, name, sql, run_squawk(sql), sizes, large_table_rows))
    return findings
