"""Shadow evidence for capabilities without routes: what both sides delivered, or would have.

``webhooks.delivery`` and ``notifications.email`` route no HTTP: the proxy never sees them,
so there are no shadow observations. Their shadow is the extracted service recording what
it would have sent while the monolith sends, and each service compares the two
(``extracted.webhooks.parity``, ``extracted.notifications.compare``). This module turns
those comparisons into the gate's ``shadow`` evidence over the same window as HTTP shadow
evidence, with a stricter rule: these are messages to merchants and customers, so one
difference fails the gate (there is no noise to cancel in "the same e-mail to the same
person"), and the sample count must reach ``STRANGLER_SHADOW_MIN_SAMPLES``.

Nothing is moved between databases for these capabilities, so the reconciliation
evidence answers "not applicable" for them (``strangler.control.reconciliation.evidence``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from strangler.config import get_settings
from strangler.control.routing.gates import Evidence, Verdict

MAX_SHOWN = 5


@dataclass(frozen=True)
class Parity:
    compared: int  # occurrences compared (matching or not)
    differing: list[str] = field(default_factory=list)  # one line per difference


ParitySource = Callable[[datetime], Parity]


# Occurrences younger than this may still be on their way to the other side (an event in
# Kafka, a send after commit): judged on the next evaluation, not counted as missing now. Each
# side is read over a window this much wider, so a pair straddling an edge still pairs.
IN_FLIGHT = timedelta(minutes=2)


def webhooks_parity(since: datetime) -> Parity:
    from extracted.webhooks import parity

    s = get_settings()
    until = datetime.now(UTC) - IN_FLIGHT
    result = parity.compare(parity.load_legacy(s.monolith_database_url, since - IN_FLIGHT),
                            parity.load_service(s.webhooks_database_url, since - IN_FLIGHT))

    pairs = judged(result.pairs, since, until)
    lines = [f"{p.occurrence} → {p.url}: {'; '.join(p.differences)}" for p in pairs if not p.matches]
    unreadable = [f"unreadable: {u}" for u in result.unreadable]
    return Parity(len(pairs) + len(unreadable), lines + unreadable)


def judged(pairs: list[Any], since: datetime, until: datetime) -> list[Any]:
    """The pairs whose first side happened inside [since, until): the window's edges were read
    wider only so that their counterparts are found, never to judge them."""
    def inside(pair: Any) -> bool:
        row = pair.legacy or pair.service
        return row is None or row.created_at is None or since <= row.created_at < until

    return [p for p in pairs if inside(p)]


def notifications_parity(since: datetime) -> Parity:
    from extracted.notifications.compare import compare

    s = get_settings()
    found = compare(s.monolith_database_url, s.notifications_database_url, since,
                    datetime.now(UTC) - IN_FLIGHT)
    return Parity(len(found), [f"{c.key}: {'; '.join(c.differences)}" for c in found if not c.matches])


SOURCES: dict[str, ParitySource] = {
    "webhooks.delivery": webhooks_parity,
    "notifications.email": notifications_parity,
}


def is_side_effect(capability: str) -> bool:
    return capability in SOURCES


def side_effect_evidence(capability: str, window: timedelta) -> Evidence:
    settings = get_settings()
    needs = settings.shadow_min_samples
    try:
        found = SOURCES[capability](datetime.now(UTC) - window)
    except Exception as exc:  # a database we cannot read is missing evidence, never a pass
        return Evidence("shadow", Verdict.INSUFFICIENT,
                        f"cannot read {capability}'s deliveries to compare: {exc}",
                        {"compared": None, "differing": None, "needs": needs})
    facts = {"compared": found.compared, "differing": len(found.differing), "needs": needs,
             "examples": found.differing[:MAX_SHOWN]}
    if found.differing:
        return Evidence("shadow", Verdict.FAILED,
                        f"{len(found.differing)} of {found.compared} deliveries differ, e.g. "
                        + " | ".join(found.differing[:2]), facts)
    if found.compared < needs:
        return Evidence("shadow", Verdict.INSUFFICIENT,
                        f"{found.compared} deliveries compared, {needs} needed (all matched so far)", facts)
    return Evidence("shadow", Verdict.OK, f"all {found.compared} deliveries compared match", facts)
