"""A migrated template database, cloned per test: migrations run once per session, not per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest


def _url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


@pytest.fixture(scope="session")
def migrated_template(pg_server_url: str) -> Iterator[str]:
    """An empty database with every monolith migration applied (by a real ``migrate`` process).

    ``--skip-checks``: system checks import the URLconf, which has nothing to do with the schema.
    """
    name = f"seedtmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": _url(pg_server_url, name)}
    subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "--skip-checks", "-v0"], env=env,
                   check=True, timeout=120)
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_database(pg_server_url: str, migrated_template: str) -> Iterator[Callable[[], str]]:
    """Factory: a fresh, migrated, empty database (a clone of the template); dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"seed_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        created.append(name)
        return _url(pg_server_url, name)

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
