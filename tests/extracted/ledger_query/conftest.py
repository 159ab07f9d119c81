"""Fixtures of the ledger service's tests: one migrated ledger database and its running service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.extracted.conftest import migrate_ledger
from tests.extracted.ledger_query.ledger_service import World, serve


@pytest.fixture(scope="module")
def ledger_service(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(ledger database URL, service base URL): a migrated database and gunicorn, per test module."""
    name = f"ledger_w_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    try:
        migrate_ledger(url)
        with serve(url, tmp_path_factory.mktemp("ledger") / "ledger.log") as service:
            yield url, service
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def world(ledger_service: tuple[str, str]) -> World:
    return World(ledger_service)
