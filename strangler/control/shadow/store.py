"""DjangoObservationStore: the real ObservationStore, in the control plane's PostgreSQL.

``to_domain`` / ``from_domain`` translate at the edge; what is stored is redacted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import router, transaction
from django.db.models import F

from shadow.diff import Difference
from shadow.noise import generalise
from shadow.observation import EffectParity, Observation, Outcome
from shadow.redact import redact
from shadow.store import ObservationStore
from strangler.control.shadow.models import MAX_SAMPLES, DiffGroup, DiffSample, ShadowObservation


def _stored(differences: tuple[Difference, ...], limit: int = 50) -> list[dict[str, Any]]:
    return [{"path": d.path, "kind": d.kind, "primary": redact(d.primary, d.path),
             "candidate": redact(d.candidate, d.path), "note": d.note} for d in differences[:limit]]


def _difference(raw: dict[str, Any]) -> Difference:
    return Difference(raw["path"], raw["kind"], raw.get("primary"), raw.get("candidate"), raw.get("note", ""))


def to_domain(row: ShadowObservation) -> Observation:
    return Observation(
        capability=row.capability, request_id=row.request_id, method=row.method, path=row.path,
        observed_at=row.observed_at, outcome=Outcome(row.outcome), primary_status=row.primary_status,
        candidate_status=row.candidate_status, primary_latency_ms=row.primary_latency_ms,
        candidate_latency_ms=row.candidate_latency_ms,
        differences=tuple(_difference(d) for d in row.differences),
        cancelled=tuple(_difference(d) for d in row.cancelled),
        accepted=tuple(_difference(d) for d in row.accepted), effects=EffectParity(row.effects),
        flags=frozenset(row.flags), error=row.error)


class DjangoObservationStore(ObservationStore):
    def add(self, observation: Observation) -> None:
        o = observation
        with transaction.atomic(using=router.db_for_write(ShadowObservation)):
            ShadowObservation.objects.create(
                capability=o.capability, request_id=o.request_id, method=o.method, path=redact(o.path),
                observed_at=o.observed_at, outcome=str(o.outcome), primary_status=o.primary_status,
                candidate_status=o.candidate_status, primary_latency_ms=o.primary_latency_ms,
                candidate_latency_ms=o.candidate_latency_ms, effects=str(o.effects), flags=sorted(o.flags),
                differences=_stored(o.differences), cancelled=_stored(o.cancelled, 20),
                accepted=_stored(o.accepted, 20), error=redact(o.error))
            from shadow.aggregate import sample_of

            seen: set[tuple[str, str]] = set()
            for d in o.differences:
                key = (generalise(d.path), d.kind)
                if key in seen:
                    continue
                seen.add(key)
                group, created = DiffGroup.objects.get_or_create(
                    capability=o.capability, path=key[0], kind=key[1],
                    defaults={"count": 0, "first_seen": o.observed_at, "last_seen": o.observed_at})
                DiffGroup.objects.filter(pk=group.pk).update(count=F("count") + 1, last_seen=o.observed_at)
                if created or group.samples.count() < MAX_SAMPLES:
                    DiffSample.objects.create(group=group, request_id=o.request_id, observed_at=o.observed_at,
                                              sample=sample_of(o, d))

    def since(self, capability: str | None, since: datetime) -> list[Observation]:
        rows = ShadowObservation.objects.filter(observed_at__gte=since)
        if capability is not None:
            rows = rows.filter(capability=capability)
        return [to_domain(row) for row in rows.order_by("observed_at", "id")]

    def prune(self, before: datetime) -> int:
        with transaction.atomic(using=router.db_for_write(ShadowObservation)):
            gone, _ = ShadowObservation.objects.filter(observed_at__lt=before).delete()
            DiffGroup.objects.filter(last_seen__lt=before).delete()
        return int(gone)
