"""JSON-aware comparison of a primary and a candidate answer, under one capability's rules.

Pure. Our code is the rules (ignore, normalise, unordered arrays, tolerances) and
the naming of differences; deepdiff finds them. Differences are named by path and
kind: a JSON Pointer into the body (``/results/0/amount``), ``#status``,
``#header/<name>`` or ``#body`` (non-JSON or huge bodies, compared as bytes or by
hash and size); kinds are changed, missing (the candidate lacks it), extra (only
the candidate has it), type and order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deepdiff import DeepDiff
from deepdiff.operator import BaseOperator

from shadow.rules import CapabilityRules, PathPattern, Tolerance

STATUS = "#status"
BODY = "#body"
HEADER = "#header/"
IGNORED = "<ignored>"
_KIND = {"values_changed": "changed", "type_changes": "type", "dictionary_item_added": "extra",
         "dictionary_item_removed": "missing", "iterable_item_added": "extra",
         "iterable_item_removed": "missing"}


@dataclass(frozen=True, slots=True)
class Side:
    """One answer: status, headers (lower-case names), body, and how long it took (None: unknown)."""

    status: int
    headers: dict[str, str]
    body: bytes
    latency_s: float | None = None
    truncated: bool = False  # the proxy kept only part of the body


@dataclass(frozen=True, slots=True)
class Difference:
    path: str
    kind: str
    primary: Any = None
    candidate: Any = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    differences: tuple[Difference, ...]
    flags: frozenset[str]  # non_json, huge


def escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def pointer(keys: Sequence[object]) -> str:
    return "".join("/" + escape(k) for k in keys)


def compare(primary: Side, candidate: Side, rules: CapabilityRules) -> Comparison:
    """Every difference between two answers that the rules do not excuse (accepted ones included)."""
    found: list[Difference] = []
    flags: set[str] = set()
    if primary.status != candidate.status:
        found.append(Difference(STATUS, "changed", primary.status, candidate.status))
    for name in rules.headers:
        mine, theirs = primary.headers.get(name), candidate.headers.get(name)
        if mine != theirs:
            kind = "missing" if theirs is None else "extra" if mine is None else "changed"
            found.append(Difference(HEADER + name, kind, mine, theirs))
    found.extend(_compare_bodies(primary, candidate, rules, flags))
    return Comparison(tuple(found), frozenset(flags))


def _digest(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()[:16]} size:{len(body)}"


def _compare_bodies(primary: Side, candidate: Side, rules: CapabilityRules,
                    flags: set[str]) -> list[Difference]:
    cut = primary.truncated or candidate.truncated
    if cut or max(len(primary.body), len(candidate.body)) > rules.max_body:
        flags.add("huge")
        if primary.body == candidate.body and not (primary.truncated or candidate.truncated):
            return []
        note = "compared by hash and size: over max_body" + (" (truncated by the proxy)" if
                                                            primary.truncated or candidate.truncated else "")
        if primary.body == candidate.body:
            return []  # the kept prefixes agree; the flag says the rest was not compared
        return [Difference(BODY, "changed", _digest(primary.body), _digest(candidate.body), note)]
    if primary.body == candidate.body and not rules.ignore and not rules.normalisers:
        return []
    try:
        mine = json.loads(primary.body) if primary.body else None
        theirs = json.loads(candidate.body) if candidate.body else None
    except (ValueError, UnicodeDecodeError):
        flags.add("non_json")
        if primary.body == candidate.body:
            return []
        return [Difference(BODY, "changed", _digest(primary.body), _digest(candidate.body),
                           "not JSON: compared as bytes")]
    return compare_json(mine, theirs, rules)


def compare_json(primary: Any, candidate: Any, rules: CapabilityRules) -> list[Difference]:
    """Differences between two JSON documents under ``rules`` (paths are JSON Pointers)."""
    mine, theirs = prepare(primary, rules), prepare(candidate, rules)
    if _canonical(mine) == _canonical(theirs):
        return []
    operators = [_ToleranceOperator(rules.numeric, False), _ToleranceOperator(rules.timestamps, True)]
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


def _canonical(value: Any) -> str:
    # json.dumps tells 1, 1.0 and true apart, where == does not
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _collapse_order(mine: Any, theirs: Any, raw: list[tuple[list[Any], Difference]]) -> list[Difference]:
    """Differences inside an array that holds the same items in another order become one ``order``."""
    permuted: dict[str, bool] = {}
    out: list[Difference] = []
    reported: set[str] = set()
    for keys, difference in raw:
        for depth in range(len(keys)):
            prefix = keys[:depth]
            at = pointer(prefix)
            if at not in permuted:
                a, b = _resolve(mine, prefix), _resolve(theirs, prefix)
                permuted[at] = (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                                and sorted(map(_canonical, a)) == sorted(map(_canonical, b)))
            if permuted[at]:
                if at not in reported:
                    reported.add(at)
                    out.append(Difference(at, "order", None, None, "same items in another order"))
                break
        else:
            out.append(difference)
    return out


def _resolve(document: Any, keys: Sequence[Any]) -> Any:
    for key in keys:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return None
    return document


# -- preparation: the rules that rewrite a document before it is compared --------------------

def prepare(document: Any, rules: CapabilityRules) -> Any:
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
                return sorted(items, key=_canonical)
        return items
    if isinstance(value, str):
        for normaliser in rules.normalisers:
            if normaliser.path.matches(at):
                value = normaliser.pattern.sub(normaliser.replace, value)
    return value


class _ToleranceOperator(BaseOperator):
    """Numbers (or ISO timestamps) at declared paths are equal when within the tolerance."""

    def __init__(self, tolerances: tuple[Tolerance, ...], timestamps: bool) -> None:
        super().__init__()
        self.tolerances = tolerances
        self.timestamps = timestamps

    def _amount(self, level: Any) -> float | None:
        keys = level.path(output_format="list")
        at = pointer(keys)
        for tolerance in self.tolerances:
            if tolerance.path.matches(at):
                return tolerance.amount
        return None

    def match(self, level: Any) -> bool:
        return self._amount(level) is not None

    def give_up_diffing(self, level: Any, diff_instance: Any) -> bool:
        amount = self._amount(level)
        a, b = level.t1, level.t2
        if amount is None:
            return False
        if self.timestamps:
            first, second = _instant(a), _instant(b)
            if first is None or second is None:
                return False
            return abs((first - second).total_seconds()) <= amount
        numbers = (isinstance(a, int | float) and isinstance(b, int | float)
                   and not isinstance(a, bool) and not isinstance(b, bool))
        return numbers and abs(a - b) <= amount


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def walk_pointers(document: Any, at: str = "") -> Iterator[str]:
    """Every pointer in a document (leaves and containers); used by tests and samples."""
    yield at
    if isinstance(document, dict):
        for key, value in document.items():
            yield from walk_pointers(value, f"{at}/{escape(key)}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from walk_pointers(value, f"{at}/{index}")
