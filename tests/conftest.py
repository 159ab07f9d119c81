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


LEDGER_ID_BASE = 10**15  # monolith.wallets.ledger_port.LEDGER_ID_BASE


@pytest.fixture(autouse=True)
def _legacy_posting_ids_restart_below_the_ledger_s(
        request: pytest.FixtureRequest, django_db_blocker: object) -> Iterator[None]:
    """A test that hands posting ids to the monolith (``hand_ids_to_monolith``) moves the test
    database's ``wallets_transaction`` sequence past 10^15, and flushing a database does not
    move a sequence back. Every later test's postings would then look like the ledger's own
    (``ledger_port.ledger_has_written``) and payouts without a control plane would be refused,
    as they are, rightly, in production after a rollback. Put the sequence back after the test."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    databases = marker.kwargs.get("databases")
    if databases is None:
        databases = ["default"]
    if databases != "__all__" and "default" not in databases:
        return
    from django.db import DatabaseError, connections

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT last_value FROM wallets_transaction_id_seq")
                (last,) = cursor.fetchone()
                if last >= LEDGER_ID_BASE:
                    cursor.execute(
                        "SELECT setval('wallets_transaction_id_seq', COALESCE((SELECT max(id) FROM "
                        "wallets_transaction WHERE id < %s), 0) + 1, false)", [LEDGER_ID_BASE])
        except DatabaseError:
            pass  # no monolith test database in this run: nothing to put back
