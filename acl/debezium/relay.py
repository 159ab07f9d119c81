"""The Debezium relay: Debezium (pgoutput) reads the outbox from the WAL, ``PythonRelay``'s core publishes.

Only the source of changes differs from the default relay: instead of claiming
lanes and polling, changes arrive pushed from the WAL in commit order
(``DebeziumOutbox``). Translation, contract checks, CloudEvents, the idempotent
producer, quarantine and "mark handled only after the broker acknowledged" are
the same code, so the same writes publish byte-identical events with the same ids.
"""

from __future__ import annotations

import threading

import psycopg
import structlog

from acl.contracts import ContractRegistry
from acl.debezium.config import HEARTBEAT_TABLE, DebeziumSettings
from acl.debezium.engine import EngineThread
from acl.debezium.store import DebeziumOutbox
from acl.errors import PublishError
from acl.metrics import RelayMetrics
from acl.ports import Publisher, Relay
from acl.relay import PythonRelay

_log = structlog.get_logger("acl.debezium")


def prepare(database_url: str) -> None:
    """The heartbeat table Debezium writes to (idempotent; the publication and slot Debezium makes itself)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} (slot text NOT NULL, beat_at timestamptz NOT NULL)"
        )


class DebeziumRelay(Relay):
    def __init__(
        self,
        settings: DebeziumSettings,
        publisher: Publisher,
        contracts: ContractRegistry,
        metrics: RelayMetrics | None = None,
        java: str | None = None,
        heap: str = "512m",
        poll_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = DebeziumOutbox(settings.database_url)
        self.publisher = publisher
        self.core = PythonRelay(
            self.store, publisher, contracts, metrics, settings.max_batch_size, poll_interval
        )
        self.poll_interval = poll_interval
        self._java, self._heap = java, heap
        self._engine: EngineThread | None = None

    def start(self) -> None:
        """Start the engine (and the JVM, the first time in this process). Idempotent."""
        if self._engine is not None:
            return
        prepare(self.settings.database_url)
        self.store.origin()  # before the engine thread can ask for it: one connection, opened here
        self._engine = EngineThread(self.settings, self.store, self._java, self._heap)
        self._engine.start()
        _log.info("debezium.started", slot=self.settings.slot_name, offsets=str(self.settings.offsets_file))

    def run_once(self) -> int:
        """Publish what Debezium has delivered so far (0 if nothing yet); starts the engine if needed."""
        self.start()
        assert self._engine is not None
        failure = self._engine.failure()
        if failure is not None:
            raise failure
        return self.core.run_once()

    def run(self, stop: threading.Event) -> None:
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    handled = self.run_once()
                    backoff = 0.1
                except PublishError as exc:
                    _log.warning("relay.publish_failed", error=str(exc))
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if not handled:
                    self.store.wait_for_changes(self.poll_interval)
        finally:
            self.close()

    def close(self) -> None:
        """Stop: a batch not fully published is given back (offsets not committed), the engine flushes."""
        self.store.close()
        if self._engine is not None:
            self._engine.stop()
            self._engine = None
