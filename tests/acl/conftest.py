"""Fixtures for the ACL suite: one Tansu broker per session, a migrated legacy database per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from acl.install import install
from strangler.stack.kafka import tansu_argv
from strangler.stack.net import free_port, port_is_open
from tests.acl.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tansu() -> Iterator[subprocess.Popen[bytes]]:
    """A real Kafka-protocol broker (Tansu, in memory) for the whole session."""

    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"tansu-acl-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        tansu_argv(port),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.port = port  # type: ignore[attr-defined]
    try:
        wait_until(lambda: port_is_open(port), 20, "Tansu to listen")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(tansu: subprocess.Popen[bytes]) -> str:
    return f"127.0.0.1:{tansu.port}"  # type: ignore[attr-defined]


def _with_db(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


@pytest.fixture(scope="session")
def legacy_template(pg_server_url: str) -> Iterator[str]:
    """A database migrated by the monolith's own migrations, used as a template (no capture)."""
    name = f"acl_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "STRANGLER_MONOLITH_DATABASE_URL": _with_db(pg_server_url, name)}
    subprocess.run([sys.executable, "-m", "monolith.manage", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def legacy_db_factory(pg_server_url: str, legacy_template: str) -> Iterator[Callable[[bool], str]]:
    """``make(with_capture=True)`` -> URL of a fresh copy of the migrated monolith database."""
    created: list[str] = []

    def make(with_capture: bool = True) -> str:
        name = f"acl_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{legacy_template}"')
        created.append(name)
        url = _with_db(pg_server_url, name)
        if with_capture:
            install(url)
        return url

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def legacy_db(legacy_db_factory: Callable[[bool], str]) -> str:
    return legacy_db_factory(True)


@pytest.fixture(scope="session")
def django_capture(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    """Capture installed in pytest-django's test database, for the ORM write-path tests."""
    from django.db import connection

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        s = connection.settings_dict
        install(f"postgresql://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}")

