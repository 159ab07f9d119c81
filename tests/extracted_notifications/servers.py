"""Real SMTP counterparts for the tests: an aiosmtpd server PROCESS writing a Maildir, a server
that accepts connections and never answers, and a port nobody listens on."""

from __future__ import annotations

import mailbox
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

from strangler.stack.net import free_port, port_is_open
from tests.acl.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
PICKY = "tests.extracted_notifications.smtp_handlers.Picky"


class SmtpServer:
    """``python -m aiosmtpd`` with the Mailbox handler: what arrived is read back from its Maildir."""

    def __init__(self, maildir: Path, port: int | None = None,
                 handler: str = "aiosmtpd.handlers.Mailbox") -> None:
        self.maildir, self.port, self.handler = maildir, port or free_port(), handler
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SmtpServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", self.handler, str(self.maildir)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_is_open(self.port), 20, "the SMTP server to listen")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def messages(self) -> list[Message]:
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        return [box.get_message(key) for key in box.iterkeys()]


@contextmanager
def smtp_server(maildir: Path, port: int | None = None,
                handler: str = "aiosmtpd.handlers.Mailbox") -> Iterator[SmtpServer]:
    server = SmtpServer(maildir, port, handler).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word (an SMTP server that hangs); yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def refused_port() -> int:
    """A port with nothing listening (connection refused)."""
    return free_port()
