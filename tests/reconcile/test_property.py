"""Property: for random pairs of small tables, the bisection finds exactly what a naive
full comparison finds — single integer keys and composite (text, integer) keys alike."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.bootstrap import check_against, sides_for
from reconcile.engine import Engine, Options
from reconcile.mapping import parse_mapping
from reconcile.naive import naive_compare

MAPPING = """
[mapping]
capability = "prop"

[[comparison]]
name = "items"
[comparison.legacy]
table = "item"
alias = "a"
[comparison.extracted]
table = "item"
alias = "b"
{keys}
[[comparison.columns]]
name = "v"
legacy = "a.v"
extracted = "b.v"
[[comparison.columns]]
name = "n"
legacy = "a.n"
extracted = "b.n"
"""
KEYS = {
    "int": ('[[comparison.key]]\nname = "id"\nlegacy = "a.id"\nextracted = "b.id"\n',
            "code text NOT NULL DEFAULT ''"),
    "composite": ('[[comparison.key]]\nname = "code"\nlegacy = "a.code"\nextracted = "b.code"\n'
                  '[[comparison.key]]\nname = "id"\nlegacy = "a.id"\nextracted = "b.id"\n',
                  "code text NOT NULL"),
}

# Small alphabets so keys collide across sides often and texts include the awkward cases.
codes = st.text(alphabet="aAbB_-é ", max_size=3)
values = st.one_of(st.none(), st.sampled_from(["", "null", "x", "X", "a,b", '"q"', "(p)"]))
numbers = st.one_of(st.none(), st.integers(-5, 5))
rows = st.lists(st.tuples(codes, st.integers(-3, 30), values, numbers), max_size=40)


def _fill(url: str, data: list[tuple[str, int, str | None, int | None]], ignore: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE item")
        with conn.cursor().copy("COPY item (code, id, v, n) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        conn.execute("ANALYZE item")


@pytest.mark.parametrize("key", sorted(KEYS))
def test_bisection_equals_naive_full_comparison(fresh_database: Callable[[str], str],
                                                key: str) -> None:
    keys, code_column = KEYS[key]
    ignore = '\nignore = ["a.code"]' if key == "int" else ""
    text = MAPPING.format(keys=keys)
    if key == "int":
        text = text.replace('alias = "a"', 'alias = "a"' + ignore).replace(
            'alias = "b"', 'alias = "b"\nignore = ["b.code"]')
    legacy, extracted = fresh_database("prop_l"), fresh_database("prop_e")
    # No unique constraint, so duplicate keys occur too.
    for url in (legacy, extracted):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE item ({code_column}, id bigint NOT NULL, v text, "
                         "n numeric(6,2))")
    checked, = check_against(parse_mapping(text), legacy, extracted)

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(mine=rows, shared=rows, theirs=rows)
    def check(mine: list, shared: list, theirs: list) -> None:
        if key == "int":
            mine, shared, theirs = ([("", *r[1:]) for r in x] for x in (mine, shared, theirs))
        _fill(legacy, shared + mine, "")
        _fill(extracted, shared + theirs, "")
        legacy_side, extracted_side = sides_for(checked, legacy, extracted)
        try:
            result = Engine(checked, legacy_side, extracted_side,
                            Options(segment_rows=3, fanout=3, leaf_rows=2)).run()
        finally:
            legacy_side.close()
            extracted_side.close()
        expected = naive_compare(checked, legacy, extracted)
        if not (shared + mine) or not (shared + theirs):
            assert result.status == "incomplete"
            return
        assert result.discrepancies == expected

    check()
