"""One contract for observation stores, run against the in-memory fake and the control plane's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shadow.diff import Difference
from shadow.observation import EffectParity, Observation, Outcome
from shadow.store import InMemoryObservationStore, ObservationStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def obs(minutes: int, capability: str = "wallets") -> Observation:
    return Observation(capability, f"r{minutes}", "POST", "/api/v1/wallets/1/credit/",
                       T0 + timedelta(minutes=minutes), Outcome.DIFF, 201, 201, 3.5, 4.5,
                       differences=(Difference("/items/3/amount", "changed", 100, 101),),
                       cancelled=(Difference("/generated_at", "changed", "a", "b"),),
                       effects=EffectParity.DIFF, flags=frozenset({"no_secondary"}))


@pytest.fixture(params=["memory", "django"])
def store(request: pytest.FixtureRequest) -> Iterator[ObservationStore]:
    if request.param == "memory":
        yield InMemoryObservationStore()
        return
    request.getfixturevalue("django_db_setup")
    marker = pytest.mark.django_db(databases=["control"])
    request.applymarker(marker)
    request.getfixturevalue("_django_db_helper")
    from strangler.control.shadow.store import DjangoObservationStore

    yield DjangoObservationStore()


def test_what_is_added_comes_back_the_same_oldest_first(store: ObservationStore) -> None:
    store.add(obs(2))
    store.add(obs(1))
    store.add(obs(3, "payouts"))
    found = store.since("wallets", T0)
    assert [o.request_id for o in found] == ["r1", "r2"]
    assert found[0] == obs(1)
    assert len(store.since(None, T0 + timedelta(minutes=2))) == 2


def test_prune_forgets_only_what_is_older_than_the_retention(store: ObservationStore) -> None:
    for minute in range(5):
        store.add(obs(minute))
    assert store.prune(T0 + timedelta(minutes=3)) == 3
    assert [o.request_id for o in store.since(None, T0)] == ["r3", "r4"]


@pytest.mark.django_db(databases=["control"])
def test_the_django_store_groups_differences_with_bounded_samples() -> None:
    from strangler.control.shadow.models import MAX_SAMPLES, DiffGroup
    from strangler.control.shadow.store import DjangoObservationStore

    store = DjangoObservationStore()
    for minute in range(MAX_SAMPLES + 3):
        store.add(obs(minute))
    group = DiffGroup.objects.get(capability="wallets", path="/items/*/amount", kind="changed")
    assert group.count == MAX_SAMPLES + 3 and group.samples.count() == MAX_SAMPLES


@pytest.mark.django_db(databases=["control"])
def test_the_gate_uses_stored_shadow_evidence() -> None:
    from strangler.control.routing.evidence import collect
    from strangler.control.shadow.store import DjangoObservationStore

    store = DjangoObservationStore()
    now = datetime.now(UTC)
    for i in range(3):
        store.add(Observation("wallets", f"g{i}", "GET", "/w/", now, Outcome.MATCH, 200, 200, 1.0, 1.0))
    (shadow,) = [e for e in collect("wallets") if e.source == "shadow"]
    assert shadow.verdict == "insufficient" and shadow.facts["samples"] == 3
