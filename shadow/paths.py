"""Path patterns compiled into one segment automaton, so a walk asks "which rules hold here?" per step.

Pure. Matching every JSON Pointer of a document against every rule's regex costs a
path string and a regex call per node per rule. Here the patterns of all rules
become one automaton over pointer segments: a state is the set of (pattern,
position) pairs still alive; a step consumes one (escaped) segment. A walk carries
the state down; where the state is empty no rule can apply in the whole subtree,
so the walk can hand that subtree on untouched. Steps are memoised per (state,
segment), with every segment no pattern names literally sharing one entry, so the
memo stays as small as the rules.

Matches exactly what ``PathPattern.matches`` does: ``*`` is one segment, ``**``
any number of segments (zero included), anything else is a literal segment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

State = frozenset[tuple[int, int]]  # (pattern index, position in its segments)
_ANY = "\x00any"  # stands for every segment no live pattern names literally


def escape(key: object) -> str:
    text = str(key)
    if "~" not in text and "/" not in text:
        return text  # most keys: no copy
    return text.replace("~", "~0").replace("/", "~1")


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def pointer(keys: Sequence[object]) -> str:
    return "".join("/" + escape(k) for k in keys)


def canonical(value: Any) -> str:
    # json.dumps tells 1, 1.0 and true apart, where == does not
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def segments(text: str) -> tuple[str, ...]:
    """``/results/*/id`` -> ("results", "*", "id"); ``""`` (the root) -> ()."""
    return tuple(text.split("/")[1:])


@dataclass
class PathAutomaton:
    """Every pattern of a rule set; ``accepted(state)`` says which patterns match the path walked so far."""

    patterns: tuple[tuple[str, ...], ...]
    _steps: dict[tuple[State, str], State] = field(default_factory=dict, repr=False)
    _accepts: dict[State, frozenset[int]] = field(default_factory=dict, repr=False)
    _literals: dict[State, frozenset[str]] = field(default_factory=dict, repr=False)
    _named: dict[State, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, texts: Sequence[str]) -> PathAutomaton:
        return cls(tuple(segments(t) for t in texts))

    def start(self) -> State:
        return self._closure({(i, 0) for i in range(len(self.patterns))})

    def _closure(self, pairs: set[tuple[int, int]]) -> State:
        # ``**`` may match zero segments: a pair at a ``**`` also stands past it
        todo = list(pairs)
        while todo:
            pid, pos = todo.pop()
            pattern = self.patterns[pid]
            if pos < len(pattern) and pattern[pos] == "**" and (pid, pos + 1) not in pairs:
                pairs.add((pid, pos + 1))
                todo.append((pid, pos + 1))
        return frozenset(pairs)

    def step(self, state: State, segment: str) -> State:
        """The state after one more (escaped) pointer segment."""
        if not state:
            return state
        literals = self._literals.get(state)
        if literals is None:
            literals = frozenset(self.patterns[p][i] for p, i in state
                                 if i < len(self.patterns[p]) and self.patterns[p][i] not in ("*", "**"))
            self._literals[state] = literals
        key = (state, segment if segment in literals else _ANY)
        found = self._steps.get(key)
        if found is None:
            found = self._advance(state, key[1])
            self._steps[key] = found
        return found

    def _advance(self, state: State, segment: str) -> State:
        pairs: set[tuple[int, int]] = set()
        for pid, pos in state:
            pattern = self.patterns[pid]
            if pos >= len(pattern):
                continue
            wanted = pattern[pos]
            if wanted == "**":
                pairs.add((pid, pos))
            elif wanted == "*" or wanted == segment:
                pairs.add((pid, pos + 1))
        return self._closure(pairs)

    def step_unnamed(self, state: State) -> State:
        """The state after any segment that no live pattern names literally."""
        return self.step(state, _ANY)

    def named(self, state: State) -> dict[str, str]:
        """The segments live patterns name literally here, unescaped (a dict key) -> as named (escaped)."""
        found = self._named.get(state)
        if found is None:
            self.step(state, _ANY)  # fills the literals of ``state``
            # a literal that is no escaped key (``a~2``) can never match a real key
            found = {unescape(s): s for s in self._literals.get(state, frozenset())
                     if escape(unescape(s)) == s}
            self._named[state] = found
        return found

    def accepted(self, state: State) -> frozenset[int]:
        """Indexes of the patterns that match exactly the path walked to ``state``."""
        found = self._accepts.get(state)
        if found is None:
            found = frozenset(p for p, i in state if i == len(self.patterns[p]))
            self._accepts[state] = found
        return found
