"""Keys under an ICU (linguistic) collation on another server still compare in byte order.

The embedded PostgreSQL has no ICU, so the legacy side lives on the machine's system
PostgreSQL (``STRANGLER_ICU_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``;
CI's machine has it) in a database made for this test and dropped after it. Its key column
sorts under "und-x-icu", where case, accents and punctuation order keys differently from
byte order; the engine still finds exactly the planted set because every range, sort and
bucket it uses is under COLLATE "C".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from reconcile.bootstrap import check_against, run_comparison
from reconcile.compare import MISMATCH, MISSING_IN_EXTRACTED, MISSING_IN_LEGACY
from reconcile.engine import Options
from reconcile.mapping import parse_mapping
from reconcile.naive import naive_compare
from tests.reconcile.ledger_fixture import execute
from tests.reconcile.test_engine_planted import TEXT_KEYS, TEXT_MAPPING

ICU_SERVER = os.environ.get("STRANGLER_ICU_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
COLLATION = "und-x-icu"


def _icu_server() -> str | None:
    """Why no ICU server is usable, or None when it is."""
    try:
        with psycopg.connect(ICU_SERVER, connect_timeout=3) as conn:
            found = conn.execute("SELECT 1 FROM pg_collation WHERE collname = %s "
                                 "AND collprovider = 'i'", (COLLATION,)).fetchone()
    except psycopg.Error as exc:
        return f"no PostgreSQL server reachable at {ICU_SERVER}: {str(exc).strip()}"
    return None if found else f"the server at {ICU_SERVER} has no ICU collation {COLLATION}"


@pytest.fixture
def icu_database() -> Iterator[str]:
    reason = _icu_server()
    if reason:
        pytest.skip(reason + " (set STRANGLER_ICU_PG_URL to a server built with ICU)")
    name = f"recon_icu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ICU_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(ICU_SERVER)._replace(path="/" + name))
    finally:
        with psycopg.connect(ICU_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_icu_keys_on_another_server_are_found_exactly(
        icu_database: str, fresh_database: Callable[[str], str]) -> None:
    legacy, extracted = icu_database, fresh_database("recon_icu_e")
    execute(legacy, f'CREATE TABLE merchant_ref (code varchar(40) COLLATE "{COLLATION}" '
                    "PRIMARY KEY, name text)")
    execute(extracted, "CREATE TABLE merchant (code text PRIMARY KEY, name text)")
    keys = [k + suffix for k in TEXT_KEYS for suffix in ("", "1", "2")]
    for url, table in ((legacy, "merchant_ref"), (extracted, "merchant")):
        with psycopg.connect(url, autocommit=True) as conn:
            for i, key in enumerate(keys):
                conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (key, f"n{i}"))
            conn.execute(f"ANALYZE {table}")
    with psycopg.connect(legacy) as conn:
        icu_order = [r[0] for r in conn.execute("SELECT code FROM merchant_ref ORDER BY code")]
    assert icu_order != sorted(keys), "the collation must order these keys differently"
    execute(extracted, "DELETE FROM merchant WHERE code = 'B'")
    execute(legacy, "DELETE FROM merchant_ref WHERE code = 'é1'")
    execute(extracted, "UPDATE merchant SET name = 'changed' WHERE code = 'ß2'")
    execute(legacy, "UPDATE merchant_ref SET name = 'other' WHERE code = 'a-b'")
    planted = {
        (MISSING_IN_EXTRACTED, ("B",), False),
        (MISSING_IN_LEGACY, ("é1",), False),
        (MISMATCH, ("ß2",), False),
        (MISMATCH, ("a-b",), False),
    }
    checked, = check_against(parse_mapping(TEXT_MAPPING), legacy, extracted)
    for options in (Options(segment_rows=5, fanout=3, leaf_rows=2), Options()):
        result = run_comparison(checked, legacy, extracted, options)
        assert {(d.category, d.key, d.pending) for d in result.discrepancies} == planted
        assert result.legacy.rows == len(keys) - 1 and result.extracted.rows == len(keys) - 1
    assert {(d.category, d.key, d.pending)
            for d in naive_compare(checked, legacy, extracted)} == planted
