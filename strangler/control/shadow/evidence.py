"""The shadow evidence provider for the routing gates: stored observations -> gates.Evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shadow.aggregate import aggregate
from shadow.evidence import Thresholds, gate_evidence
from strangler.config import get_settings
from strangler.control.routing.gates import Evidence, Verdict
from strangler.control.shadow.side_effects import is_side_effect, side_effect_evidence
from strangler.control.shadow.store import DjangoObservationStore

WINDOW = timedelta(days=7)  # evidence is about the candidate as it is now, not months ago


def shadow_evidence(capability: str) -> Evidence:
    if is_side_effect(capability):  # no routes, no observations: compare what was delivered
        return side_effect_evidence(capability, WINDOW)
    observations = DjangoObservationStore().since(capability, datetime.now(UTC) - WINDOW)
    settings = get_settings()
    thresholds = Thresholds(settings.shadow_min_match_rate, settings.shadow_min_samples,
                            settings.shadow_max_latency_delta_ms)
    found = gate_evidence(aggregate(observations), thresholds)
    return Evidence("shadow", Verdict(found.verdict), found.detail, found.facts)
