"""The default relay, pure Python: outbox -> translate -> validate -> CloudEvents -> Kafka -> mark handled.

Woken by LISTEN/NOTIFY (``OutboxStore.wait_for_changes``) with a polling
fallback: the wait has a timeout, so a lost notification costs at most
``poll_interval``. Per batch: lanes are claimed (FOR UPDATE SKIP LOCKED), their
changes translated in commit order, every event validated against its contract,
the batch produced in chunks (one chunk waits for its delivery reports on a
publishing thread while the next is rendered), and only changes whose every
event was acknowledged are marked handled, in the same transaction that still
holds the lanes.

Bad input never blocks other aggregates: a change whose translation or contract
check fails is quarantined (with the reason) and the batch carries on. If the
broker refuses a message, that aggregate's later changes in the batch are held
back too (their order must not overtake it) and everything unacknowledged is
retried on the next batch; redelivered duplicates keep their event ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

import structlog

from acl.contracts import ContractRegistry
from acl.domain import event_id
from acl.envelope import OutgoingMessage, to_message
from acl.errors import ContractViolation, PublishError, TranslationError
from acl.metrics import RelayMetrics
from acl.ports import OutboxStore, PendingChange, Publisher, QuarantineEntry, Relay
from acl.translators import translate

_log = structlog.get_logger("acl.relay")


def render(change: PendingChange, contracts: ContractRegistry) -> list[OutgoingMessage]:
    """Translate and validate one change; raises TranslationError/ContractViolation. Pure."""
    messages = []
    for index, event in enumerate(translate(change.change)):
        contracts.validate_emitted(event)
        messages.append(
            to_message(
                event,
                event_id(change.change.source_id, index),
                change.change.correlation_id,
                change.change.traceparent,
                change.outbox_id,
            )
        )
    return messages


class PythonRelay(Relay):
    chunk_size = 500  # changes rendered per publish call; chunks are pipelined within a batch
    clock: Callable[[], datetime] = staticmethod(lambda: datetime.now(UTC))

    def __init__(
        self,
        store: OutboxStore,
        publisher: Publisher,
        contracts: ContractRegistry,
        metrics: RelayMetrics | None = None,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
    ) -> None:
        self.store, self.publisher, self.contracts = store, publisher, contracts
        self.metrics = metrics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._executor: ThreadPoolExecutor | None = None

    def run_once(self) -> int:
        with self.store.claim(self.batch_size) as batch:
            if not batch.changes:
                return 0
            plan: list[tuple[PendingChange, list[OutgoingMessage]]] = []
            quarantined: list[QuarantineEntry] = []
            # Render and publish overlap: while one chunk waits for its delivery reports (the
            # Kafka client releases the GIL), the next chunk is translated and validated.
            # One publishing thread sends chunks in order, so per-partition order is kept.
            acks: list[Future[list[bool]]] = []
            for start in range(0, len(batch.changes), self.chunk_size):
                chunk = self._render(batch.changes[start : start + self.chunk_size], quarantined)
                plan += chunk
                acks.append(self._sender().submit(self.publisher.publish, [m for _, ms in chunk for m in ms]))
            delivered_flags = self._collect(acks)
            acked = iter(delivered_flags)
            published: list[int] = []
            held_back: set[str] = set()
            now = self.clock()
            for pending, messages in plan:
                delivered = all([next(acked) for _ in messages])  # consume this change's reports in order
                if delivered and pending.aggregate not in held_back:
                    published.append(pending.outbox_id)
                    self._observe(pending, messages, now)
                else:
                    held_back.add(pending.aggregate)
            batch.complete(published, quarantined)
            self._count_quarantine(quarantined)
            if held_back:
                raise PublishError(
                    f"broker did not acknowledge events of {len(held_back)} aggregate(s); "
                    "their changes stay in the outbox and will be retried"
                )
            return len(published) + len(quarantined)

    def _render(
        self, changes: list[PendingChange], quarantined: list[QuarantineEntry]
    ) -> list[tuple[PendingChange, list[OutgoingMessage]]]:
        plan: list[tuple[PendingChange, list[OutgoingMessage]]] = []
        for pending in changes:
            try:
                plan.append((pending, render(pending, self.contracts)))
            except TranslationError as exc:
                quarantined.append(QuarantineEntry(pending.change, pending.outbox_id, exc.reason))
            except ContractViolation as exc:
                quarantined.append(
                    QuarantineEntry(
                        pending.change,
                        pending.outbox_id,
                        f"contract {exc.event_type}: {exc.reason}",
                        exc.event_type,
                    )
                )
        return plan

    def _sender(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="acl-relay-publish")
        return self._executor

    @staticmethod
    def _collect(acks: list[Future[list[bool]]]) -> list[bool]:
        """Every chunk's reports, in order; waits for all chunks before raising the first failure."""
        wait(acks)
        flags: list[bool] = []
        for future in acks:
            flags += future.result()  # re-raises PublishError: the claim rolls back, nothing marked
        return flags

    def close(self) -> None:
        """Stop the publishing thread (the store and publisher belong to the caller)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def run(self, stop: threading.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                handled = self.run_once()
                backoff = 0.1
            except PublishError as exc:
                _log.warning("relay.publish_failed", error=str(exc))
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if handled < self.batch_size:
                self.store.wait_for_changes(self.poll_interval)

    def _observe(self, pending: PendingChange, messages: list[OutgoingMessage], now: datetime) -> None:
        if self.metrics is None:
            return
        self.metrics.commit_to_ack.observe(max(0.0, (now - pending.committed_at).total_seconds()))
        for m in messages:
            self.metrics.published.labels(topic=m.topic).inc()

    def _count_quarantine(self, entries: list[QuarantineEntry]) -> None:
        for entry in entries:
            _log.error(
                "relay.quarantined",
                table=entry.change.table,
                source=entry.change.source_id,
                reason=entry.reason,
                correlation_id=entry.change.correlation_id,
            )
            if self.metrics is not None:
                kind = "contract" if entry.event_type else "translation"
                self.metrics.quarantined.labels(table=entry.change.table, reason_kind=kind).inc()
