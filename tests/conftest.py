"""Fixtures shared by every test package: a real PostgreSQL server and fresh databases on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from strangler.config import get_settings


def _server_url() -> str:
    """The URL of the test server's maintenance database (the embedded one unless configured)."""
    parts = urlsplit(get_settings().monolith_database_url)
    return urlunsplit(parts._replace(path="/postgres"))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return _server_url()


@pytest.fixture
def fresh_database(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: ``fresh_database("recon_legacy")`` creates an empty database and returns its URL.

    Each call gets a unique name; all are dropped after the test.
    """
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
