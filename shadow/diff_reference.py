"""The plain comparison: rules applied by regex at every path, then deepdiff over the whole document.

Pure. This was ``shadow.diff.compare_json`` before the fast path; it stays as the
oracle the fast path must agree with (property tests) and as the "before" of
``bench/shadow_bench.py``. Not used on live traffic: it costs ~7 ms per differing
4.5 KB page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deepdiff import DeepDiff

from shadow.diff import IGNORED, Difference, ToleranceOperator, canonical, escape, pointer, resolve
from shadow.rules import CapabilityRules, PathPattern

_KIND = {"values_changed": "changed", "type_changes": "type", "dictionary_item_added": "extra",
         "dictionary_item_removed": "missing", "iterable_item_added": "extra",
         "iterable_item_removed": "missing"}


def compare_json_reference(primary: Any, candidate: Any, rules: CapabilityRules) -> list[Difference]:
    """Differences between two JSON documents under ``rules`` (paths are JSON Pointers)."""
    mine, theirs = prepare_reference(primary, rules), prepare_reference(candidate, rules)
    if canonical(mine) == canonical(theirs):
        return []
    operators = [ToleranceOperator(rules.numeric, False), ToleranceOperator(rules.timestamps, True)]
    tree = DeepDiff(mine, theirs, view="tree", verbose_level=2,
                    custom_operators=[o for o in operators if o.tolerances])
    raw: list[tuple[list[Any], Difference]] = []
    for report, kind in _KIND.items():
        for level in tree.get(report, ()):
            keys = list(level.path(output_format="list"))
            raw.append((keys, Difference(pointer(keys), kind, _plain(level.t1), _plain(level.t2))))
    return _collapse_order(mine, theirs, raw)


def _plain(value: Any) -> Any:
    return None if type(value).__name__ == "NotPresent" else value


def _collapse_order(mine: Any, theirs: Any, raw: list[tuple[list[Any], Difference]]) -> list[Difference]:
    permuted: dict[str, bool] = {}
    out: list[Difference] = []
    reported: set[str] = set()
    for keys, difference in raw:
        for depth in range(len(keys)):
            prefix = keys[:depth]
            at = pointer(prefix)
            if at not in permuted:
                a, b = resolve(mine, prefix), resolve(theirs, prefix)
                permuted[at] = (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                                and sorted(map(canonical, a)) == sorted(map(canonical, b)))
            if permuted[at]:
                if at not in reported:
                    reported.add(at)
                    out.append(Difference(at, "order", None, None, "same items in another order"))
                break
        else:
            out.append(difference)
    return out


def prepare_reference(document: Any, rules: CapabilityRules) -> Any:
    if not (rules.ignore or rules.normalisers or rules.unordered):
        return document
    return _prepare(document, "", rules)


def _first(patterns: Sequence[PathPattern], at: str) -> bool:
    return any(p.matches(at) for p in patterns)


def _prepare(value: Any, at: str, rules: CapabilityRules) -> Any:
    if isinstance(value, dict):
        return {k: _prepare(v, f"{at}/{escape(k)}", rules) for k, v in value.items()
                if not _first(rules.ignore, f"{at}/{escape(k)}")}
    if isinstance(value, list):
        items: list[Any] = [IGNORED if _first(rules.ignore, f"{at}/{i}") else _prepare(v, f"{at}/{i}", rules)
                            for i, v in enumerate(value)]
        for spec in rules.unordered:
            if spec.path.matches(at):
                if spec.key is not None and all(isinstance(i, dict) and spec.key in i for i in items):
                    return {f"{spec.key}={item[spec.key]}": item for item in items}
                return sorted(items, key=canonical)
        return items
    if isinstance(value, str):
        for normaliser in rules.normalisers:
            if normaliser.path.matches(at):
                value = normaliser.pattern.sub(normaliser.replace, value)
    return value
