"""The JSON-aware diff: kinds, paths, and every rule that rewrites or excuses a difference."""

from __future__ import annotations

import json
from datetime import date

from shadow.diff import Difference, Side, compare, compare_json
from shadow.rules import CapabilityRules, parse_rules


def rules(text: str = "") -> CapabilityRules:
    return parse_rules('[capabilities."c"]\n' + text).for_capability("c")


def kinds(found: list[Difference]) -> set[tuple[str, str]]:
    return {(d.path, d.kind) for d in found}


def test_differences_are_named_by_json_pointer_and_kind() -> None:
    found = compare_json({"a": 1, "b": "x", "n": {"v": 1}, "l": [1, 2]},
                         {"a": 2, "c": 1, "n": {"v": "1"}, "l": [1, 2, 3]}, rules())
    assert kinds(found) == {("/a", "changed"), ("/b", "missing"), ("/c", "extra"), ("/n/v", "type"),
                            ("/l/2", "extra")}


def test_an_integer_and_a_float_of_equal_value_are_a_type_difference() -> None:
    assert kinds(compare_json({"x": 1}, {"x": 1.0}, rules())) == {("/x", "type")}


def test_the_same_items_in_another_order_are_one_order_difference() -> None:
    assert kinds(compare_json({"l": [1, 2, 3]}, {"l": [3, 1, 2]}, rules())) == {("/l", "order")}


def test_an_unordered_array_with_a_key_matches_items_by_key() -> None:
    r = rules('unordered = [{ path = "/results", key = "id" }]')
    primary = {"results": [{"id": 1, "v": 1}, {"id": 2, "v": 2}]}
    assert compare_json(primary, {"results": [{"id": 2, "v": 2}, {"id": 1, "v": 1}]}, r) == []
    assert kinds(compare_json(primary, {"results": [{"id": 2, "v": 3}, {"id": 1, "v": 1}]}, r)) == {
        ("/results/id=2/v", "changed")}


def test_ignored_paths_and_normalisers_remove_known_noise() -> None:
    r = rules('ignore = ["/meta/**"]\nnormalise = [{ path = "/ref", pattern = "[0-9]+", replace = "#" }]')
    assert compare_json({"meta": {"t": 1}, "ref": "R-1"}, {"meta": {"t": 2, "u": 1}, "ref": "R-22"}, r) == []


def test_numeric_and_timestamp_tolerances_hold_within_and_fail_beyond() -> None:
    r = rules('numeric = [{ path = "/rate", tolerance = 0.01 }]\n'
              'timestamps = [{ path = "/at", seconds = 2 }]')
    near = compare_json({"rate": 1.0, "at": "2024-01-01T00:00:00Z"},
                        {"rate": 1.005, "at": "2024-01-01T00:00:01+00:00"}, r)
    far = compare_json({"rate": 1.0, "at": "2024-01-01T00:00:00Z"},
                       {"rate": 1.5, "at": "2024-01-01T00:01:00Z"}, r)
    assert near == [] and kinds(far) == {("/rate", "changed"), ("/at", "changed")}


def test_status_and_declared_headers_are_compared_and_others_are_not() -> None:
    r = rules('headers = ["content-type"]')
    found = compare(Side(200, {"content-type": "application/json", "date": "a"}, b"{}"),
                    Side(201, {"content-type": "text/plain", "date": "b"}, b"{}"), r)
    assert kinds(list(found.differences)) == {("#status", "changed"), ("#header/content-type", "changed")}


def test_non_json_bodies_are_compared_as_bytes_and_flagged() -> None:
    found = compare(Side(200, {}, b"<html>a</html>"), Side(200, {}, b"<html>b</html>"), rules())
    assert "non_json" in found.flags and kinds(list(found.differences)) == {("#body", "changed")}
    same = compare(Side(200, {}, b"<html>a</html>"), Side(200, {}, b"<html>a</html>"), rules())
    assert same.differences == () and "non_json" not in same.flags  # equal bytes need no parse


def test_huge_bodies_are_compared_by_hash_and_size_and_flagged() -> None:
    big = json.dumps({"x": "a" * 2000}).encode()
    other = json.dumps({"x": "b" * 2000}).encode()
    found = compare(Side(200, {}, big), Side(200, {}, other), rules("max_body = 1000"))
    assert "huge" in found.flags
    (difference,) = found.differences
    assert difference.path == "#body" and "hash and size" in difference.note
    assert str(len(big)) in difference.primary


def test_an_accepted_difference_covers_only_its_path_and_kind_until_it_expires() -> None:
    r = rules('accept = [{ path = "/x", kind = "changed", reason = "ok", expires = 2030-01-01 }]')
    (accepted,) = r.accepted
    assert accepted.covers("/x", "changed", date(2029, 12, 31))
    assert not accepted.covers("/x", "changed", date(2030, 1, 2))
    assert not accepted.covers("/x", "missing", date(2029, 1, 1))
