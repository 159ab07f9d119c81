"""Real local HTTP webhook receivers for the tests: record, fail, redirect, hang, flood."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``behaviour``: ok | fail500 | redirect | hang | flood; ``fail_first`` 500s before ok."""

    behaviour: str = "ok"
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        with self.lock:
            return len(self.received)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                n = len(receiver.received)
            mode = receiver.behaviour
            if mode == "ok" and n <= receiver.fail_first:
                mode = "fail500"
            if mode == "hang":
                receiver.release.wait(30)  # holds the connection open until the test ends
                return
            if mode == "redirect":
                self.send_response(307)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if mode == "flood":  # a body far larger than the sender's limit
                chunk = b"x" * 65536
                self.send_response(200)
                self.send_header("Content-Length", str(len(chunk) * 160))
                self.end_headers()
                try:
                    for _ in range(160):
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the sender stopped reading and closed: expected
                return
            code, reply = (500, b"boom") if mode == "fail500" else (200, b"ok")
            self.send_response(code)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


@contextmanager
def serving(receiver: Receiver, host: str = "127.0.0.1") -> Iterator[Receiver]:
    server_cls = ThreadingHTTPServer
    if ":" in host:
        class V6(ThreadingHTTPServer):
            address_family = socket.AF_INET6
        server_cls = V6
    server = server_cls((host, 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


def refused_port() -> int:
    """A port with nothing listening on it (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
