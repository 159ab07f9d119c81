"""The sender's keep-alive connections: reused, retried once when the receiver dropped an idle
one, and for HTTPS pinned to the checked address while SNI and the certificate use the name."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from extracted.webhooks import ssrf
from extracted.webhooks.delivery import Limits, Sender
from tests.extracted_webhooks.receivers import Receiver, _handler, serving

LOOPBACK = ssrf.parse_allowlist("127.0.0.0/8")
BODY = b'{"id":"e1"}'


def _sender(resolver: ssrf.Resolver = ssrf.system_resolver, tls: ssl.SSLContext | None = None) -> Sender:
    return Sender(Limits(connect_timeout=1.0, total_timeout=2.0), LOOPBACK, resolver, tls=tls)


def test_consecutive_sends_reuse_one_connection() -> None:
    peers: set[tuple[str, int]] = set()
    with serving(Receiver()) as r:
        s = _sender()
        for _ in range(5):
            assert s.send(r.url, "k", BODY, {}, 1).result.response_code == 200
        for conn in s._pool._idle.values():
            peers |= {c.sock.getsockname() for c in conn if c.sock is not None}
        s.close()
    assert r.count() == 5 and len(peers) == 1


@contextmanager
def _one_request_per_connection() -> Iterator[tuple[int, list[bytes]]]:
    """Answers one request per connection, then closes it without saying so (no Connection: close)."""
    got: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(rest) < length:
                    rest += conn.recv(65536)
                got.append(rest)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1]), got
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_dropped_idle_connection_is_retried_once_on_a_fresh_one_and_sent_once() -> None:
    with _one_request_per_connection() as (port, got):
        s = _sender()
        codes = [s.send(f"http://127.0.0.1:{port}/hook", "k", BODY, {}, 1).result for _ in range(3)]
    assert [c.response_code for c in codes] == [200, 200, 200], codes
    assert got == [BODY] * 3


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=hooks.merchant.test",
                    "-addext", "subjectAltName=DNS:hooks.merchant.test"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_https_goes_to_the_checked_address_with_the_names_sni_and_certificate(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: sni.append(name)
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    trusting = ssl.create_default_context(cafile=str(cert))
    try:
        ok = _sender(lambda h, p: ["127.0.0.1"], trusting).send(
            f"https://hooks.merchant.test:{port}/hook", "k", BODY, {}, 1)
        wrong = _sender(lambda h, p: ["127.0.0.1"], trusting).send(
            f"https://other.merchant.test:{port}/hook", "k", BODY, {}, 1)
        untrusted = _sender(lambda h, p: ["127.0.0.1"]).send(
            f"https://hooks.merchant.test:{port}/hook", "k", BODY, {}, 1)
    finally:
        server.shutdown()
        server.server_close()
    assert (ok.result.response_code, ok.address) == (200, "127.0.0.1")
    assert receiver.received[0].headers["Host"] == f"hooks.merchant.test:{port}"
    assert sni[0] == "hooks.merchant.test"
    assert wrong.result.response_code is None and "certificate" in wrong.result.error.lower()
    assert untrusted.result.response_code is None and "certificate" in untrusted.result.error.lower()
    assert receiver.count() == 1
