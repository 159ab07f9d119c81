"""Entry point of the notification service's worker: ``python -m extracted.notifications.consume``.

Domain events -> notification records, through the ACL consumer library (inbox in this
service's database, exactly-once effects, dead-letter topic) and ``router.Router``; then
the dispatcher thread sends what is due (``dispatch``). ``build`` is the one wiring point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
import structlog

from acl.adapters.pg_inbox import PgInboxStore
from acl.consumer import EventConsumer
from acl.contracts import ContractRegistry, load_contracts
from acl.metrics import ConsumerMetrics
from acl.ops import ensure_topics
from extracted.notifications import domain
from extracted.notifications.channels import Channel, FileChannel
from extracted.notifications.decisions import Decisions, LegacyDecisions, OwnDecisions
from extracted.notifications.dispatch import Dispatcher
from extracted.notifications.router import Router
from extracted.notifications.smtp import SmtpChannel
from extracted.notifications.templates import Catalogue, load

GROUP = "notifications"
TOPICS = ["paystream.customer", "paystream.wallet", "paystream.payout", "paystream.kyc"]
DEAD_LETTER_TOPIC = "paystream.dead-letter.notifications"
_log = structlog.get_logger("notifications.consume")


class NotificationsService:
    """The consumer and the dispatcher of one process; the dispatcher runs in its own thread."""

    retry_undecided_every = 5.0  # seconds between attempts at events parked for want of a decision

    def __init__(self, consumer: EventConsumer, dispatcher: Dispatcher, router: Router, decisions: Decisions,
                 database_url: str) -> None:
        self.consumer, self.dispatcher, self.router = consumer, dispatcher, router
        self.decisions, self.database_url = decisions, database_url

    def run(self, stop: threading.Event) -> None:
        sender = threading.Thread(target=self.dispatcher.run, args=(stop,), name="notifications-dispatch",
                                  daemon=True)
        sender.start()
        try:
            last_retry = time.monotonic()
            while not stop.is_set():
                self.consumer.poll_once(0.2)
                if time.monotonic() - last_retry >= self.retry_undecided_every:
                    last_retry = time.monotonic()
                    try:
                        self.router.retry_undecided(self.database_url)
                    except psycopg.Error as exc:  # this service's own database is away: next round
                        _log.warning("notifications.retry_undecided_failed", error=str(exc).strip())
        finally:
            self.consumer.close()
            self.dispatcher.wake()
            sender.join(30)
            self.decisions.close()


def channels(smtp: SmtpChannel, outbox: Path) -> dict[str, Channel]:
    return {"email": smtp, "sms": FileChannel("sms", outbox), "push": FileChannel("push", outbox)}


def build(database_url: str, bootstrap_servers: str, decisions: Decisions,
          channel_map: Mapping[str, Channel], *, catalogue: Catalogue | None = None,
          policy: domain.RetryPolicy | None = None, group: str = GROUP, max_attempts: int = 3,
          metrics: ConsumerMetrics | None = None) -> NotificationsService:
    """The one wiring point of the worker process (tests call it too). Loads the templates
    first: a broken catalogue stops the process here, before any event is taken."""
    catalogue = catalogue or load()
    dispatcher = Dispatcher(database_url, channel_map, policy or domain.RetryPolicy())
    ensure_topics(bootstrap_servers, [*TOPICS, DEAD_LETTER_TOPIC])
    router = Router(ContractRegistry(load_contracts()), catalogue, decisions, dispatcher.wake)
    consumer = EventConsumer(bootstrap_servers, group, TOPICS, router, PgInboxStore(database_url),
                             DEAD_LETTER_TOPIC, max_attempts, metrics, overrides={"fetch.wait.max.ms": 10})
    return NotificationsService(consumer, dispatcher, router, decisions, database_url)


def main(argv: Sequence[str] | None = None) -> None:
    from extracted.notifications.config import get_config
    from extracted.worker import start_worker, stop_on_signals, worker_parser

    parser = worker_parser("python -m extracted.notifications.consume",
                           "Turn domain events into notifications and send them.", GROUP)
    args = parser.parse_args(argv)
    bootstrap = start_worker(args)
    config = get_config()
    smtp = SmtpChannel(config.smtp_host, config.smtp_port, config.smtp_sender, timeout=config.smtp_timeout,
                       starttls=config.smtp_starttls)
    decisions = OwnDecisions() if config.decisions == "own" else LegacyDecisions(config.legacy_database_url)
    service = build(config.database_url, bootstrap, decisions, channels(smtp, config.outbox_dir),
                    catalogue=load(config.templates_dir, config.fallback_locale), policy=config.retry,
                    group=args.group, metrics=ConsumerMetrics.create())
    stop = stop_on_signals()
    _log.info("notifications.worker_started", group=args.group, topics=TOPICS)
    service.run(stop)


if __name__ == "__main__":
    main()
