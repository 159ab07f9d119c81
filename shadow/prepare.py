"""Preparation: the rules that rewrite a document before it is compared (ignore, normalise, unordered).

Pure. All of a capability's path patterns are compiled once into one
``PathAutomaton``; the walk carries its state down the document and hands on
untouched every subtree no rule can reach, so a rule-free part of a page costs
nothing. Same result as applying each rule's regex at every path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shadow.paths import PathAutomaton, State, canonical
from shadow.rules import CapabilityRules, Normaliser, UnorderedArray

IGNORED = "<ignored>"


@dataclass(frozen=True)
class CompiledRules:
    automaton: PathAutomaton
    ignore: frozenset[int]  # pattern indexes of the ignore rules
    unordered: tuple[tuple[int, UnorderedArray], ...]  # in declaration order: the first match wins
    normalisers: tuple[tuple[int, Normaliser], ...]  # in declaration order: each match applies

    @property
    def empty(self) -> bool:
        return not self.automaton.patterns


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
    automaton = rules.automaton
    if not automaton.step_unnamed(state):
        # only keys the rules name can be reached (``/results/*/created_at`` on a row):
        # copy the row at C speed and visit just those keys
        out = dict(value)
        for key, segment in automaton.named(state).items():
            if key in out:
                below = automaton.step(state, segment)
                if automaton.accepted(below) & rules.ignore:
                    del out[key]
                elif below:
                    out[key] = _prepare(out[key], below, rules)
        return out
    # every key the rules do not name leads to one and the same state: work it out once
    named = automaton.named(state)
    other = automaton.step_unnamed(state)
    other_ignored = bool(automaton.accepted(other) & rules.ignore)
    out = {}
    for key, item in value.items():
        if key in named:
            below = automaton.step(state, named[key])
            if not (automaton.accepted(below) & rules.ignore):
                out[key] = _prepare(item, below, rules) if below else item
        elif not other_ignored:
            out[key] = _prepare(item, other, rules)
    return out


def _prepare_list(value: list[Any], state: State, rules: CompiledRules) -> list[Any]:
    automaton = rules.automaton
    if not automaton.step_unnamed(state):
        items = list(value)
        for segment in automaton.named(state).values():
            if segment.isdigit() and str(int(segment)) == segment and int(segment) < len(items):
                below = automaton.step(state, segment)
                if automaton.accepted(below) & rules.ignore:
                    items[int(segment)] = IGNORED
                elif below:
                    items[int(segment)] = _prepare(items[int(segment)], below, rules)
        return items
    named = automaton.named(state)  # indexes the rules name (``/results/0``); any other index: ``other``
    other = automaton.step_unnamed(state)
    if automaton.accepted(other) & rules.ignore:
        out: list[Any] = [IGNORED] * len(value)
    else:
        out = [_prepare(item, other, rules) for item in value]
    for key, segment in named.items():
        if key.isdigit() and str(int(key)) == key and int(key) < len(value):
            below = automaton.step(state, segment)
            ignored = automaton.accepted(below) & rules.ignore
            out[int(key)] = IGNORED if ignored else _prepare(value[int(key)], below, rules)
    return out
