"""The comparator's parser (msgspec, json as the fallback) reads every body as ``json.loads`` does.

The comparison is only as exact as the documents it gets: a parser that turned a big
integer into a float (orjson does) would make two different amounts equal. ``repr``
tells 1, 1.0 and True apart, and keeps every digit of an integer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow.diff import Side, compare, loads
from shadow.rules import parse_rules

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: far past 64 bits both ways
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),  # any code point, escaped or not below
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.text(max_size=8), inner, max_size=6)),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(document=JSON, ascii_only=st.booleans(), indent=st.sampled_from([None, 2]))
def test_every_document_parses_as_json_loads_parses_it(document: Any, ascii_only: bool,
                                                        indent: int | None) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only, indent=indent).encode()
    assert repr(loads(body)) == repr(json.loads(body))


@pytest.mark.parametrize("body", [
    b"123456789012345678901234567890",  # orjson: 1.2345678901234568e+29
    b"-9223372036854775809",
    b'{"amount": 18446744073709551616, "fee": 18446744073709551617}',
    b"1e400",  # msgspec refuses; json: inf
    b"[NaN, Infinity, -Infinity]",  # not RFC 8259, but json.loads reads it
    b'"\\ud800"',  # a lone surrogate escape
    b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte order mark
    '{"é": [1, 2.5]}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',  # the last one wins, in both
    b"-0", b"-0.0", b"1E5", b"0.1",
])
def test_what_msgspec_refuses_or_might_read_otherwise_is_read_as_json_loads_reads_it(body: bytes) -> None:
    assert repr(loads(body)) == repr(json.loads(body))


@pytest.mark.parametrize("body", [b"[1, 2", b'"\xff"', b"{'a': 1}", b""])
def test_what_is_not_json_fails_as_json_loads_fails(body: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(body)
    with pytest.raises(ValueError) as theirs:
        json.loads(body)
    assert type(ours.value) is type(theirs.value)


def test_two_amounts_past_64_bits_that_differ_in_the_last_digit_are_a_difference() -> None:
    rules = parse_rules("").for_capability("ledger")
    primary = Side(200, {}, b'{"amount": 123456789012345678901234567890}')
    candidate = Side(200, {}, b'{"amount": 123456789012345678901234567891}')
    found = compare(primary, candidate, rules).differences
    assert [(d.path, d.kind) for d in found] == [("/amount", "changed")]
