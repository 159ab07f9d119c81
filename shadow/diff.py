"""JSON-aware comparison of a primary and a candidate answer, under one capability's rules.

Pure. Our code is the rules (ignore, normalise, unordered arrays, tolerances) and
the naming of differences; deepdiff is the judge of what differs, and a
structural walk in front of it narrows each comparison to the differing parts
(``shadow.diff_reference`` is the whole-document deepdiff it must agree with).
Differences are named by path and kind: a JSON Pointer into the body (``/results/0/amount``), ``#status``,
``#header/<name>`` or ``#body`` (non-JSON or huge bodies, compared as bytes or by
hash and size); kinds are changed, missing (the candidate lacks it), extra (only
the candidate has it), type and order.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest
from typing import Any

from deepdiff import DeepDiff
from deepdiff.operator import BaseOperator

from shadow.paths import canonical, escape, pointer
from shadow.prepare import IGNORED, prepare
from shadow.rules import CapabilityRules, Tolerance

__all__ = ["BODY", "HEADER", "IGNORED", "STATUS", "Comparison", "Difference", "Side", "canonical",
           "compare", "compare_json", "escape", "pointer", "prepare", "resolve", "walk_pointers"]

STATUS = "#status"
BODY = "#body"
HEADER = "#header/"


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


JsonDiff = Callable[[Any, Any, CapabilityRules], "list[Difference]"]


def compare(primary: Side, candidate: Side, rules: CapabilityRules, *,
            json_diff: JsonDiff | None = None) -> Comparison:
    """Every difference between two answers that the rules do not excuse (accepted ones included).

    ``json_diff`` replaces ``compare_json`` (the benchmark's before/after seam).
    """
    found: list[Difference] = []
    flags: set[str] = set()
    if primary.status != candidate.status:
        found.append(Difference(STATUS, "changed", primary.status, candidate.status))
    for name in rules.headers:
        mine, theirs = primary.headers.get(name), candidate.headers.get(name)
        if mine != theirs:
            kind = "missing" if theirs is None else "extra" if mine is None else "changed"
            found.append(Difference(HEADER + name, kind, mine, theirs))
    found.extend(_compare_bodies(primary, candidate, rules, flags, json_diff or compare_json))
    return Comparison(tuple(found), frozenset(flags))


def _digest(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()[:16]} size:{len(body)}"


def _compare_bodies(primary: Side, candidate: Side, rules: CapabilityRules,
                    flags: set[str], json_diff: JsonDiff) -> list[Difference]:
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
    return json_diff(mine, theirs, rules)


def compare_json(primary: Any, candidate: Any, rules: CapabilityRules) -> list[Difference]:
    """Differences between two JSON documents under ``rules`` (paths are JSON Pointers).

    Same answer as deepdiff over the whole prepared documents
    (``shadow.diff_reference``), at a fraction of the cost: a structural walk skips
    equal subtrees at C speed, follows dict keys and the index pairing deepdiff
    itself uses for lists of containers, and settles differing leaves; only the
    pairs whose diff needs deepdiff's own judgement (arrays of plain values,
    aligned with difflib, and dicts deepdiff reports whole) are handed to it.
    """
    mine, theirs = prepare(primary, rules), prepare(candidate, rules)
    raw: list[tuple[list[Any], Difference]] = []
    _Walk(rules, raw).pair(mine, theirs, [])
    if not raw:
        return []
    raw.sort(key=lambda found: _ORDER[found[1].kind])  # deepdiff's order: changed, type, extra, missing
    return _collapse_order(mine, theirs, raw)


_ORDER = {"changed": 0, "type": 1, "extra": 2, "missing": 3}
_KIND = {"values_changed": "changed", "type_changes": "type", "dictionary_item_added": "extra",
         "dictionary_item_removed": "missing", "iterable_item_added": "extra",
         "iterable_item_removed": "missing"}
_ABSENT = object()
_DEEPDIFF_DEEPER = 0.33  # deepdiff's threshold_to_diff_deeper: dicts sharing fewer keys are reported whole


def _same(a: Any, b: Any) -> bool:
    """Equal with types told apart (1, 1.0 and true differ), decided in C for the common case."""
    if a is b:
        return True
    if type(a) is not type(b) or a != b:
        return False
    if isinstance(a, dict | list):
        # == lets 1 == 1.0 == True through; marshal encodes each type apart, in C (~7x faster
        # than json.dumps). Equal bytes prove equal values and types; unequal bytes (key order,
        # shared objects) only make the walk look closer.
        return marshal.dumps(a) == marshal.dumps(b)
    return True


class _Walk:
    """Collects (keys, Difference) for one pair of prepared documents."""

    def __init__(self, rules: CapabilityRules, out: list[tuple[list[Any], Difference]]) -> None:
        self.rules = rules
        self.out = out
        self.operators = [o for o in (ToleranceOperator(rules.numeric, False),
                                      ToleranceOperator(rules.timestamps, True)) if o.tolerances]

    def pair(self, a: Any, b: Any, keys: list[Any]) -> None:
        if _same(a, b):
            return
        if type(a) is dict and type(b) is dict:
            self.dicts(a, b, keys)
        elif type(a) is list and type(b) is list:
            self.lists(a, b, keys)
        else:
            self.leaf(a, b, keys)

    def dicts(self, a: dict[str, Any], b: dict[str, Any], keys: list[Any]) -> None:
        union = a.keys() | b.keys()
        shared = a.keys() & b.keys()
        quirky = any(k.startswith("__") for k in union if isinstance(k, str))  # deepdiff skips these keys
        if quirky or (len(union) > 1 and len(shared) / len(union) < _DEEPDIFF_DEEPER):
            self.deepdiff(a, b, keys)
            return
        for key in b:
            if key not in shared:
                self.found([*keys, key], "extra", None, b[key])
        for key in a:
            if key not in shared:
                self.found([*keys, key], "missing", a[key], None)
        for key in b:
            if key in shared:
                self.pair(a[key], b[key], [*keys, key])

    def lists(self, a: list[Any], b: list[Any], keys: list[Any]) -> None:
        if not any(isinstance(i, dict | list) for i in a) and not any(isinstance(i, dict | list) for i in b):
            self.deepdiff(a, b, keys)  # plain values: deepdiff aligns them with difflib
            return
        for index, (x, y) in enumerate(zip_longest(a, b, fillvalue=_ABSENT)):  # deepdiff pairs by index
            if y is _ABSENT:
                self.found([*keys, index], "missing", x, None)
            elif x is _ABSENT:
                self.found([*keys, index], "extra", None, y)
            else:
                self.pair(x, y, [*keys, index])

    def leaf(self, a: Any, b: Any, keys: list[Any]) -> None:
        if self.operators:
            at = pointer(keys)
            for operator in self.operators:
                amount = operator.amount_at(at)
                if amount is not None and operator.within(a, b, amount):
                    return
        if type(a) is not type(b):
            self.found(keys, "type", a, b)
        elif a != b:
            self.found(keys, "changed", a, b)

    def found(self, keys: list[Any], kind: str, primary: Any, candidate: Any) -> None:
        self.out.append((keys, Difference(pointer(keys), kind, primary, candidate)))

    def deepdiff(self, a: Any, b: Any, keys: list[Any]) -> None:
        operators = [ToleranceOperator(o.tolerances, o.timestamps, keys) for o in self.operators]
        tree = DeepDiff(a, b, view="tree", verbose_level=2, custom_operators=operators)
        for report, kind in _KIND.items():
            for level in tree.get(report, ()):
                self.found(keys + list(level.path(output_format="list")), kind, _plain(level.t1),
                           _plain(level.t2))


def _plain(value: Any) -> Any:
    return None if type(value).__name__ == "NotPresent" else value


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
                permuted[at] = _permutation(resolve(mine, prefix), resolve(theirs, prefix))
            if permuted[at]:
                if at not in reported:
                    reported.add(at)
                    out.append(Difference(at, "order", None, None, "same items in another order"))
                break
        else:
            out.append(difference)
    return out


def _permutation(a: Any, b: Any) -> bool:
    """Two arrays holding the same items (by canonical JSON) in any order."""
    if not (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)):
        return False
    # Cheap refusal first: an item equal to nothing on the other side (even by the looser ==)
    # cannot be matched by canonical JSON either.
    for x, y in zip(a, b, strict=False):
        if x != y and x not in b:
            return False
    return sorted(map(canonical, a)) == sorted(map(canonical, b))


def resolve(document: Any, keys: Sequence[Any]) -> Any:
    for key in keys:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return None
    return document

class ToleranceOperator(BaseOperator):
    """Numbers (or ISO timestamps) at declared paths are equal when within the tolerance."""

    def __init__(self, tolerances: tuple[Tolerance, ...], timestamps: bool,
                 prefix: Sequence[Any] = ()) -> None:
        super().__init__()
        self.tolerances = tolerances
        self.timestamps = timestamps
        self.prefix = list(prefix)  # where the compared subtree sits in the whole document

    def _amount(self, level: Any) -> float | None:
        return self.amount_at(pointer(self.prefix + list(level.path(output_format="list"))))

    def amount_at(self, at: str) -> float | None:
        for tolerance in self.tolerances:
            if tolerance.path.matches(at):
                return tolerance.amount
        return None

    def match(self, level: Any) -> bool:
        return self._amount(level) is not None

    def give_up_diffing(self, level: Any, diff_instance: Any) -> bool:
        amount = self._amount(level)
        return amount is not None and self.within(level.t1, level.t2, amount)

    def within(self, a: Any, b: Any, amount: float) -> bool:
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
