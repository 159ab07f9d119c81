"""Cutover gates: may a capability move to this mode and share? Pure decision logic, no I/O.

A gate is required for a flip to ``extracted`` and to a canary above
``STRANGLER_CANARY_GATE_PERCENT`` (default 5 %). It holds when every piece of evidence says ``ok``.
Evidence comes from providers registered in ``evidence.py`` (shadow parity,
reconciliation certificate, ...); a provider with nothing to go on answers
``insufficient`` and says what is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    OK = "ok"
    FAILED = "failed"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True)
class Evidence:
    """One provider's answer for one capability at one moment."""

    source: str  # "shadow", "reconciliation", ...
    verdict: Verdict
    detail: str  # what was found, or what is missing
    facts: dict[str, Any] = field(default_factory=dict)  # match rate, samples, latency delta, ...


@dataclass(frozen=True)
class GateResult:
    required: bool
    holds: bool
    missing: tuple[str, ...]  # "shadow: insufficient evidence: no shadow observations recorded"
    failed: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    def summary(self) -> str:
        if not self.required:
            return "no gate required for this change"
        if self.holds:
            return "gate holds"
        return "; ".join([*self.failed, *self.missing])

    def as_json(self) -> dict[str, Any]:
        return {"required": self.required, "holds": self.holds, "missing": list(self.missing),
                "failed": list(self.failed), "evidence": [asdict(e) for e in self.evidence]}


def canary_gate_basis_points() -> int:
    """Above this canary share the gate asks for a full cutover's evidence (STRANGLER_CANARY_GATE_PERCENT)."""
    from strangler.config import get_settings

    return get_settings().canary_gate_basis_points


def gate_required(target_mode: str, basis_points: int) -> bool:
    return target_mode == "extracted" or (
        target_mode == "canary" and basis_points > canary_gate_basis_points())


def evaluate_gate(capability: str, target_mode: str, basis_points: int,
                  evidence: list[Evidence]) -> GateResult:
    """Whether ``capability`` may move to ``target_mode`` at ``basis_points``, given ``evidence``."""
    required = gate_required(target_mode, basis_points)
    missing = tuple(f"{e.source}: insufficient evidence: {e.detail}"
                    for e in evidence if e.verdict is Verdict.INSUFFICIENT)
    failed = tuple(f"{e.source}: {e.detail}" for e in evidence if e.verdict is Verdict.FAILED)
    if required and not evidence:
        missing = ("no evidence providers are registered",)
    holds = not required or (not missing and not failed)
    return GateResult(required, holds, missing, failed, tuple(evidence))
