"""Preparation: the rules that rewrite a document before it is compared (ignore, normalise, unordered).

Pure. All of a capability's path patterns are compiled once into one
``PathAutomaton``; the walk carries its state down the document and hands on
untouched every subtree no rule can reach, so a rule-free part of a page costs
nothing. Same result as applying each rule's regex at every path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shadow.paths import PathAutomaton, State, canonical
from shadow.rules import CapabilityRules, Normaliser, UnorderedArray

IGNORED = "<ignored>"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the walk does in one container at one automaton state, worked out once per state.

    ``keyed``: each key (or index) the rules name here, whether it is ignored, and the state
    below it; ``other``: the state below every other key (empty: no rule reaches them).
    """

    keyed: tuple[tuple[str, bool, State], ...]
    other: State
    other_ignored: bool
    by_key: dict[str, tuple[bool, State]]  # ``keyed`` again, looked up per key


@dataclass(frozen=True)
class CompiledRules:
    automaton: PathAutomaton
    ignore: frozenset[int]  # pattern indexes of the ignore rules
    unordered: tuple[tuple[int, UnorderedArray], ...]  # in declaration order: the first match wins
    normalisers: tuple[tuple[int, Normaliser], ...]  # in declaration order: each match applies
    _plans: dict[State, Plan] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.automaton.patterns

    def plan(self, state: State) -> Plan:
        found = self._plans.get(state)
        if found is None:
            automaton = self.automaton
            keyed = []
            for key, segment in automaton.named(state).items():
                below = automaton.step(state, segment)
                keyed.append((key, bool(automaton.accepted(below) & self.ignore), below))
            other = automaton.step_unnamed(state)
            found = Plan(tuple(keyed), other, bool(automaton.accepted(other) & self.ignore),
                         {key: (ignored, below) for key, ignored, below in keyed})
            self._plans[state] = found
        return found


@lru_cache(maxsize=512)
def compile_rules(rules: CapabilityRules) -> CompiledRules:
    """One automaton for every rewriting rule of ``rules`` (cached: rules are immutable and few)."""
    texts = [p.text for p in rules.ignore]
    unordered = tuple((len(texts) + i, spec) for i, spec in enumerate(rules.unordered))
    texts += [spec.path.text for spec in rules.unordered]
    normalisers = tuple((len(texts) + i, n) for i, n in enumerate(rules.normalisers))
    texts += [n.path.text for n in rules.normalisers]
    return CompiledRules(PathAutomaton.of(texts), frozenset(range(len(rules.ignore))), unordered, normalisers)


def prepare(document: Any, rules: CapabilityRules) -> Any:
    compiled = compile_rules(rules)
    if compiled.empty:
        return document
    return _prepare(document, compiled.automaton.start(), compiled)


def _prepare(value: Any, state: State, rules: CompiledRules) -> Any:
    if not state:
        return value  # no rule reaches this subtree
    if isinstance(value, dict):
        return _prepare_dict(value, state, rules)
    if isinstance(value, list):
        items = _prepare_list(value, state, rules)
        here = rules.automaton.accepted(state)
        for pid, spec in rules.unordered:
            if pid in here:
                if spec.key is not None and all(isinstance(i, dict) and spec.key in i for i in items):
                    return {f"{spec.key}={item[spec.key]}": item for item in items}
                return sorted(items, key=canonical)
        return items
    if isinstance(value, str):
        here = rules.automaton.accepted(state)
        for pid, normaliser in rules.normalisers:
            if pid in here:
                value = normaliser.pattern.sub(normaliser.replace, value)
    return value


def _prepare_dict(value: dict[str, Any], state: State, rules: CompiledRules) -> dict[str, Any]:
    plan = rules.plan(state)
    if not plan.other:
        # only keys the rules name can be reached (``/results/*/created_at`` on a row):
        # copy the row at C speed and visit just those keys
        out = dict(value)
        for key, ignored, below in plan.keyed:
            if key in out:
                if ignored:
                    del out[key]
                elif below:
                    out[key] = _prepare(out[key], below, rules)
        return out
    # every key the rules do not name leads to one and the same state
    named, other, other_ignored = plan.by_key, plan.other, plan.other_ignored
    out = {}
    for key, item in value.items():
        if key in named:
            ignored, below = named[key]
            if not ignored:
                out[key] = _prepare(item, below, rules) if below else item
        elif not other_ignored:
            out[key] = _prepare(item, other, rules)
    return out


def _index(key: str, length: int) -> int | None:
    """A named segment as a list index (``0``, ``12``; not ``01`` or ``-1``), if in range."""
    if key.isdigit() and str(int(key)) == key and int(key) < length:
        return int(key)
    return None


def _prepare_list(value: list[Any], state: State, rules: CompiledRules) -> list[Any]:
    plan = rules.plan(state)
    if not plan.other:
        items = list(value)
    elif plan.other_ignored:
        items = [IGNORED] * len(value)
    else:
        other = plan.other
        items = [_prepare(item, other, rules) for item in value]
    for key, ignored, below in plan.keyed:  # indexes the rules name (``/results/0``)
        index = _index(key, len(value))
        if index is not None:
            if ignored:
                items[index] = IGNORED
            elif below:
                items[index] = _prepare(value[index], below, rules)
            elif plan.other:
                items[index] = value[index]  # named, no rule below it: as it is
    return items
