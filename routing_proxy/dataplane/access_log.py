"""Access log: one JSON line per request, carrying the request id and the routing decision.

Fields: timestamp (ISO 8601, UTC), level, logger, event (``proxy.request``), request_id,
method, path, status, capability, mode, reason (why the router decided so), upstream,
fallback, duration_ms, client_ip: the line structlog's JSON renderer wrote before, rendered
here by hand because structlog through stdlib logging cost half the proxy's throughput.

Off the hot path: a request only formats its line and appends it to a list. A timer on
the event loop hands the batch (one string) every ``flush_interval`` seconds to a writer
thread, so a slow log consumer (a full stderr pipe) never stalls the event loop. If more
than ``max_pending`` bytes wait for the writer, new lines are dropped and counted, and a
``proxy.access_log_dropped`` line says how many once the writer has caught up.

Never logs header values or the sticky key: they may be API keys. The path goes through
the same redaction as every structlog line (``strangler.logging.redact_value``).
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
import threading
import time
from typing import TextIO

from routing_proxy.dataplane.http import RequestHead
from routing_proxy.decision import Decision
from strangler.logging import redact_value

_escape = json.encoder.encode_basestring_ascii  # the C encoder when available
_LINE = ('{"timestamp":"%s.%06dZ","level":"info","logger":"routing_proxy.access",'
         '"event":"proxy.request","request_id":"%s","method":"%s","path":%s,"status":%d,'
         '"capability":%s,"mode":%s,"reason":"%s","upstream":%s,"fallback":%s,'
         '"duration_ms":%.3f,"client_ip":"%s"}\n')


class AccessLog:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None,
                 flush_interval: float = 0.25, max_pending: int = 64 * 1024 * 1024) -> None:
        self.enabled = enabled
        self.stream = stream  # None: sys.stderr at write time (where structlog's lines go)
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.dropped = 0
        self._lines: list[str] = []
        self._buffered = 0
        self._pending = 0  # bytes handed to the writer and not yet written
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._second = -1
        self._stamp = ""
        self._modes: dict[object, str] = {None: "null"}

    def record(self, head: RequestHead, decision: Decision, upstream: str, status: int,
               seconds: float, fallback: bool) -> None:
        if not self.enabled:
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        mode = self._modes.get(decision.mode)
        if mode is None:
            mode = self._modes[decision.mode] = _escape(str(decision.mode))
        line = _LINE % (
            self._stamp, int((now - second) * 1_000_000), head.request_id, head.method,
            _escape(redact_value(head.path)), status,
            _escape(decision.capability) if decision.capability else "null", mode,
            decision.reason, _escape(upstream), "true" if fallback else "false",
            seconds * 1000, head.client_ip,
        )
        if self._pending + self._buffered > self.max_pending:
            self.dropped += 1
            return
        self._lines.append(line)
        self._buffered += len(line)

    # -- lifecycle --------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush every ``flush_interval`` seconds on ``loop`` until ``close``."""
        if self.enabled and self._timer is None:
            self._loop = loop
            self._timer = loop.call_later(self.flush_interval, self._tick)

    def _tick(self) -> None:
        self.flush()
        assert self._loop is not None
        self._timer = self._loop.call_later(self.flush_interval, self._tick)

    def flush(self) -> None:
        """Hand the buffered lines to the writer thread (never writes on the caller's thread)."""
        if not self._lines and not self.dropped:
            return
        if self.dropped and self._pending <= self.max_pending // 2:  # the writer caught up
            self._lines.insert(0,
                f'{{"timestamp":"{self._stamp}.000000Z","level":"warning",'
                f'"logger":"routing_proxy.access","event":"proxy.access_log_dropped",'
                f'"lines":{self.dropped}}}\n')
            self.dropped = 0
        if not self._lines:
            return
        batch = "".join(self._lines)
        self._lines.clear()
        self._buffered = 0
        with self._lock:
            self._pending += len(batch)
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_forever,
                                            name="proxy-access-log", daemon=True)
            self._writer.start()
        self._queue.put(batch)

    def close(self, timeout: float = 5.0) -> None:
        """Write every buffered line, then stop the timer and the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout)
            self._writer = None

    def _write_forever(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            stream = self.stream if self.stream is not None else sys.stderr
            try:
                stream.write(batch)
                stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: the lines are lost
                pass
            finally:
                with self._lock:
                    self._pending -= len(batch)
