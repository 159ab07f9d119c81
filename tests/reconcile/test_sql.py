"""Key order: Python's sort key bytes, the database's sort key bytes and byte order agree."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.sql import SideSql, sortkey

SORTKEY_SQL = SideSql("", (), (), ("text", "int"), (), "").sortkey_sql(prefix="u.")

KEYS = st.tuples(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x1F600,
                                                exclude_categories=["Cs"]), max_size=4),
                 st.integers(-2**63, 2**63 - 1))


@given(a=KEYS, b=KEYS)
def test_sortkey_bytes_order_like_key_tuples(a: tuple[str, int], b: tuple[str, int]) -> None:
    assert (sortkey(a, ("text", "int")) < sortkey(b, ("text", "int"))) == (a < b)


def test_database_computes_the_same_sortkey_and_order_as_python(
        fresh_database: Callable[[str], str]) -> None:
    keys = [("", 0), ("a", -1), ("B", 2**62), ("é", -(2**63)), ("a b", 5), ("ab", 5),
            ("Z", 2**63 - 1), ("😀", 0), ("a\tb", 1)]
    with psycopg.connect(fresh_database("recon_sk")) as conn:
        got = conn.execute(
            f"SELECT k0, k1, {SORTKEY_SQL} FROM unnest(%s::text[], %s::bigint[]) AS u(k0, k1) "
            'ORDER BY k0 COLLATE "C", k1',
            ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    assert [(k0, k1) for k0, k1, _ in got] == sorted(keys)
    assert [bytes(b) for _, _, b in got] == [sortkey(k, ("text", "int")) for k in sorted(keys)]


@settings(max_examples=20)
@given(key=KEYS)
def test_sortkey_is_prefix_free_per_component(key: tuple[str, int]) -> None:
    longer = (key[0] + "a", key[1])
    assert sortkey(key, ("text", "int")) < sortkey(longer, ("text", "int"))
