"""The fast path (walk + narrowed deepdiff) finds exactly what whole-document deepdiff finds.

``shadow.diff_reference.compare_json_reference`` is the plain comparison the fast
path replaced; on random JSON pairs, under random rules, both must name the same
differences (path, kind, both values, note). Order within one comparison is not
part of the contract, so both lists are compared sorted.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow.diff import Difference, compare_json, prepare
from shadow.diff_reference import compare_json_reference, prepare_reference
from shadow.rules import CapabilityRules, parse_rules

KEYS = st.sampled_from(["id", "amount", "a", "b", "c", "ref", "at", "rate", "meta", "__p", "x/y", "t~1"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1, True, "REF-1", "REF-22", "x", "2024-01-01T00:00:00Z",
                     "2024-01-01T00:00:01+00:00", "2024-01-01T00:05:00Z"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
RULE_LINES = [
    'ignore = ["/meta/**"]',
    'ignore = ["/*/at", "/**/c"]',
    'ignore = ["/0", "/a/1", "/a/01"]',
    'ignore = ["/x~1y", "/*/t~01", "/t~1", "/a~2"]',
    'unordered = [{ path = "/a" }]',
    'unordered = [{ path = "/**", key = "id" }]',
    'unordered = [{ path = "/b", key = "id" }, { path = "/b" }]',
    'normalise = [{ path = "/**/ref", pattern = "[0-9]+", replace = "#" }]',
    'normalise = [{ path = "/**", pattern = "^x$", replace = "REF-1" }]',
    'numeric = [{ path = "/**/amount", tolerance = 0.5 }, { path = "/*", tolerance = 1 }]',
    'timestamps = [{ path = "/**", seconds = 2 }]',
    'headers = []',
]


@st.composite
def rules(draw: st.DrawFn) -> CapabilityRules:
    lines = draw(st.lists(st.sampled_from(RULE_LINES), max_size=4, unique=True))
    merged: dict[str, list[str]] = {}
    for line in lines:  # one TOML key may appear once: merge arrays of the same key
        key, value = line.split(" = ", 1)
        merged.setdefault(key, []).append(value.strip()[1:-1])
    text = "".join(f"{k} = [{', '.join(v for v in vs if v)}]\n" for k, vs in merged.items())
    return parse_rules('[capabilities."c"]\n' + text).for_capability("c")


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """A near copy of ``document``: the realistic case (mostly equal, a few parts differ)."""
    if isinstance(document, dict):
        out: dict[str, Any] = {k: draw(mutated(v)) if draw(st.integers(0, 4)) == 0 else v
                               for k, v in document.items()}
        drop: bool = draw(st.booleans())
        if out and drop:
            out.pop(draw(st.sampled_from(sorted(out))))
        if draw(st.integers(0, 3)) == 0:
            out[draw(KEYS)] = draw(JSON)
        return out
    if isinstance(document, list):
        items = [draw(mutated(v)) if draw(st.integers(0, 4)) == 0 else v for v in document]
        choice = draw(st.integers(0, 4))
        if choice == 0:
            items.reverse()
        elif choice == 1 and items:
            items.pop()
        elif choice == 2:
            items.append(draw(JSON))
        return items
    return draw(st.one_of(st.just(document), SCALARS))


def named(found: list[Difference]) -> list[tuple[str, str, str, str, str]]:
    # repr tells 1, 1.0 and True apart, as the differences do
    return sorted((d.path, d.kind, repr(d.primary), repr(d.candidate), d.note) for d in found)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    primary = draw(JSON)
    candidate = draw(st.one_of(mutated(primary), JSON))
    return primary, candidate


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=pairs(), rule=rules())
def test_the_fast_path_names_the_same_differences_as_whole_document_deepdiff(
    pair: tuple[Any, Any], rule: CapabilityRules
) -> None:
    primary, candidate = pair
    fast = compare_json(primary, candidate, rule)
    assert named(fast) == named(compare_json_reference(primary, candidate, rule))


@settings(max_examples=500, deadline=None)
@given(document=JSON, rule=rules())
def test_compiled_preparation_rewrites_a_document_exactly_as_the_per_path_regexes_do(
    document: Any, rule: CapabilityRules
) -> None:
    assert repr(prepare(document, rule)) == repr(prepare_reference(document, rule))


def test_a_page_with_one_changed_amount_reports_only_that_amount() -> None:
    rule = parse_rules('[capabilities."c"]\nignore = ["/meta/**"]\n').for_capability("c")
    page = {"results": [{"id": i, "amount": 100 * i} for i in range(20)], "meta": {"t": 1}}
    other = {"results": [{"id": i, "amount": 100 * i + (i == 5)} for i in range(20)], "meta": {"t": 2}}
    assert named(compare_json(page, other, rule)) == [("/results/5/amount", "changed", "500", "501", "")]
