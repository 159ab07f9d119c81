"""Notification dispatch benchmark: e-mails/s through the whole service vs. the SMTP adapter alone.

One command: ``python bench/notifications_bench.py [--events 1000]``. Starts its own embedded
PostgreSQL, Tansu and an aiosmtpd server process (Maildir handler); prints a rich table and
writes bench/results/notifications.json. Same receiver, same run, for every stage:

- baseline: a loop of ``SmtpChannel.send`` (one SMTP connection per message, as the
  dispatcher sends): what the SMTP work alone costs on this box;
- dispatch stage: N ``pending`` records inserted in SQL, then the dispatcher (claim, send,
  record) alone;
- end to end: N ``wallet.credited`` events published to Kafka -> consumer (inbox, directory,
  template, record) -> dispatcher -> SMTP server; from the first publish to the N-th e-mail
  in the Maildir. Decisions are the service's own (``OwnDecisions``, after the strangling).
The ratios baseline/stage show the service's overhead per e-mail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acl.adapters.kafka_publisher import KafkaPublisher  # noqa: E402
from acl.domain import DomainEvent  # noqa: E402
from acl.envelope import to_message  # noqa: E402
from extracted.notifications.channels import FileChannel, Message  # noqa: E402
from extracted.notifications.consume import build  # noqa: E402
from extracted.notifications.decisions import OwnDecisions  # noqa: E402
from extracted.notifications.dispatch import Dispatcher  # noqa: E402
from extracted.notifications.domain import RetryPolicy  # noqa: E402
from extracted.notifications.smtp import SmtpChannel  # noqa: E402
from strangler.stack.kafka import tansu_argv  # noqa: E402
from strangler.stack.net import free_port, port_is_open  # noqa: E402
from strangler.stack.postgres import EmbeddedPostgres  # noqa: E402


def wait_until(condition: Any, timeout: float, what: str, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def arrived(maildir: Path) -> int:
    new = maildir / "new"
    return len(os.listdir(new)) if new.exists() else 0


def baseline(smtp: SmtpChannel, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        smtp.send(Message(f"base-{i}", "email", f"b{i}@example.com", "Baseline", "Money added."))
    return n / (time.perf_counter() - started)


def dispatch_stage(db: str, channels: dict[str, Any], maildir: Path, n: int) -> float:
    before = arrived(maildir)
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO notifications_notification (event_id, channel, recipient, kind, customer_id, locale,"
            " subject, body, mode, status, attempts, next_attempt_at, last_error, created_at)"
            " SELECT 'stage-' || g, 'email', 'd' || g || '@example.com', 'wallet.credited', 1, 'en', 'Stage',"
            " 'Money added.', 'extracted', 'pending', 0, now(), '', now() FROM generate_series(1, %s) g",
            (n,))
    dispatcher = Dispatcher(db, channels, RetryPolicy())
    started = time.perf_counter()
    while dispatcher.run_due():
        pass
    wait_until(lambda: arrived(maildir) >= before + n, 60, "the dispatch stage's e-mails")
    dispatcher.close()
    return n / (time.perf_counter() - started)


def end_to_end(db: str, bootstrap: str, channels: dict[str, Any], maildir: Path, n: int) -> float:
    customer, wallet = 4242, 9_000_001
    at = datetime.now(UTC)

    def message(event_type: str, aggregate: str, key: str, data: dict[str, Any]) -> Any:
        return to_message(DomainEvent(event_type, aggregate, key, at, data), str(uuid.uuid4()), None, None)

    setup = [
        message("paystream.customer.registered.v1", "customer", str(customer), {
            "customer_id": str(customer), "merchant_id": "1", "external_reference": "bench",
            "full_name": "Bench", "email": "bench@example.com", "phone": None,
            "registered_at": "2026-01-01T00:00:00Z"}),
        message("paystream.wallet.opened.v1", "wallet", str(wallet), {
            "wallet_id": str(wallet), "customer_id": str(customer), "merchant_id": "1", "currency": "INR",
            "status": "active", "opened_at": "2026-01-01T00:00:00Z"}),
    ]
    credits = [message("paystream.wallet.credited.v1", "wallet", str(wallet), {
        "wallet_id": str(wallet), "entry_id": str(i), "kind": "credit",
        "amount": {"amount": "1.00", "currency": "INR"},
        "balance_after": {"amount": "1.00", "currency": "INR"},
        "reference": None, "description": None, "counterparty_wallet_id": None,
        "posted_at": "2026-01-01T00:00:01Z"}) for i in range(n)]
    service = build(db, bootstrap, OwnDecisions(), channels, group=f"bench-{uuid.uuid4().hex[:6]}")
    stop = threading.Event()
    worker = threading.Thread(target=service.run, args=(stop,), daemon=True)
    worker.start()
    publisher = KafkaPublisher(bootstrap)
    try:
        publisher.publish(setup)
        with psycopg.connect(db, autocommit=True) as conn:
            wait_until(lambda: conn.execute("SELECT count(*) FROM notifications_wallet").fetchone() == (1,),
                       60, "the wallet to be known")
        before = arrived(maildir)
        started = time.perf_counter()
        assert all(publisher.publish(credits))
        wait_until(lambda: arrived(maildir) >= before + n, 600, "every event's e-mail")
        return n / (time.perf_counter() - started)
    finally:
        publisher.close()
        stop.set()
        worker.join(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="notifications-bench-"))
    pg_port, kafka_port, smtp_port = (free_port() for _ in range(3))
    maildir = tmp / "maildir"
    pg = EmbeddedPostgres(tmp / "data", pg_port)
    pg.start()
    children = [
        subprocess.Popen(tansu_argv(kafka_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                          "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE notifications")
        db = pg.url("notifications")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update({"STRANGLER_NOTIFICATIONS_DATABASE_URL": db, "STRANGLER_PG_PORT": str(pg_port)})
        console.print("[dim]migrating the notifications database…[/dim]")
        subprocess.run([sys.executable, "-m", "extracted.notifications.manage", "migrate", "-v0"], cwd=REPO,
                       env=env, check=True)
        wait_until(lambda: port_is_open(smtp_port) and port_is_open(kafka_port), 30, "SMTP server and Tansu")
        smtp = SmtpChannel("127.0.0.1", smtp_port, "no-reply@paystream.example")
        channels = {"email": smtp, "sms": FileChannel("sms", tmp), "push": FileChannel("push", tmp)}
        n = args.events
        console.print(f"[dim]baseline, dispatch stage, end to end: {n} e-mails each…[/dim]")
        bootstrap = f"127.0.0.1:{kafka_port}"
        rows = [("baseline: SmtpChannel.send loop", baseline(smtp, n)),
                ("dispatch stage: claim, send, record", dispatch_stage(db, channels, maildir, n)),
                ("end to end: Kafka -> consumer -> dispatcher -> SMTP",
                 end_to_end(db, bootstrap, channels, maildir, n))]
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        pg.stop()
    table = Table(title=f"Notification dispatch ({os.cpu_count()} cores, local aiosmtpd, {n} per stage)")
    for col in ("stage", "e-mails/s", "÷ baseline"):
        table.add_column(col)
    for name, rate in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rate / rows[0][1]:.2f}")
    console.print(table)
    out = REPO / "bench" / "results" / "notifications.json"
    out.write_text(json.dumps({"measured_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                               "events": n, "per_second": dict(rows)}, indent=2) + "\n")
    console.print(f"written {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
