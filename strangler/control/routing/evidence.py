"""Evidence providers for the cutover gates, registered in one place.

A provider is a callable ``(capability name) -> Evidence``. Shadow results and
reconciliation runs do not exist in the control plane yet, so both providers
answer "insufficient" with what is missing; the apps that record them replace
these with ``register_provider(name, provider)`` (same name replaces).
"""

from __future__ import annotations

from collections.abc import Callable

from strangler.config import get_settings
from strangler.control.routing.gates import Evidence, Verdict

Provider = Callable[[str], Evidence]

# The shadow gate's bounds are settings (STRANGLER_SHADOW_MIN_SAMPLES, _MIN_MATCH_RATE,
# _MAX_LATENCY_DELTA_MS); the evidence's facts carry them, so the audit shows them.


def shadow_evidence(capability: str) -> Evidence:
    settings = get_settings()
    return Evidence("shadow", Verdict.INSUFFICIENT, "no shadow observations recorded",
                    {"match_rate": None, "samples": 0, "latency_delta_ms": None,
                     "needs": {"match_rate": settings.shadow_min_match_rate,
                               "samples": settings.shadow_min_samples,
                               "latency_delta_ms": settings.shadow_max_latency_delta_ms}})


def reconciliation_evidence(capability: str) -> Evidence:
    return Evidence("reconciliation", Verdict.INSUFFICIENT, "no parity certificate",
                    {"certificate": None})


_PROVIDERS: dict[str, Provider] = {
    "shadow": shadow_evidence,
    "reconciliation": reconciliation_evidence,
}


def register_provider(name: str, provider: Provider) -> None:
    _PROVIDERS[name] = provider


def collect(capability: str) -> list[Evidence]:
    """Every registered provider's evidence for ``capability``, in registration order."""
    return [provider(capability) for provider in _PROVIDERS.values()]
