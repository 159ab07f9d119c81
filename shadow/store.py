"""Where observations go: the ObservationStore interface and its in-memory fake.

The real store is ``strangler.control.shadow.store.DjangoObservationStore``
(the control plane's PostgreSQL); both pass ``tests/shadow/test_store_contract.py``.
Stores are synchronous; the sink calls them from a worker thread.
"""

from __future__ import annotations

import abc
import threading
from datetime import datetime

from shadow.observation import Observation


class ObservationStore(abc.ABC):
    @abc.abstractmethod
    def add(self, observation: Observation) -> None: ...

    @abc.abstractmethod
    def since(self, capability: str | None, since: datetime) -> list[Observation]:
        """Observations at or after ``since`` (one capability, or all), oldest first."""

    @abc.abstractmethod
    def prune(self, before: datetime) -> int:
        """Forget observations older than ``before`` (retention); returns how many went."""


class InMemoryObservationStore(ObservationStore):
    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self._lock = threading.Lock()

    def add(self, observation: Observation) -> None:
        with self._lock:
            self.observations.append(observation)

    def since(self, capability: str | None, since: datetime) -> list[Observation]:
        with self._lock:
            found = [o for o in self.observations if o.observed_at >= since
                     and (capability is None or o.capability == capability)]
        return sorted(found, key=lambda o: o.observed_at)

    def prune(self, before: datetime) -> int:
        with self._lock:
            kept = [o for o in self.observations if o.observed_at >= before]
            gone = len(self.observations) - len(kept)
            self.observations = kept
        return gone
