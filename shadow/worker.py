"""ComparatorProcess: the proxy's ShadowSink when comparing must not share the proxy's process.

Comparing costs CPU (parse, prepare, diff) and, in the proxy's process, competes
with its event loop for the GIL: the primary answers slower in shadow mode.
Here the proxy's side only admits a copy (sampling, writes without dry-run) and
writes it to a private pipe without waiting (see ``ComparatorProcess``); a full
pipe or a dead worker drops the copy and counts it, so the client never waits. One worker
process runs a ``CandidateSink`` on its own event loop: it calls the candidate
(and secondary), compares, and writes observations to a store it builds itself
(``store_factory``, called in the worker: a database connection cannot cross
processes). With ``report=True`` the worker also sends each observation back
(tests, benchmarks) for ``collect()``.

The worker is started with ``spawn``: forking a process that runs threads and
an event loop is unsafe. ``start()`` waits for it; ``consume`` starts it on the
first copy instead (in a thread, so the event loop never waits): a proxy with no
shadow route pays for no process, and copies that arrive while it boots wait in
the bounded pipe. The worker ignores SIGINT (Ctrl-C reaches the whole process
group): only its parent stops it, with ``close()``, after it has compared and
stored every copy it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import marshal
import multiprocessing
import operator
import os
import queue
import select
import signal
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from routing_proxy.dataplane.shadow import ShadowCopy, ShadowSink
from shadow.observation import Observation
from shadow.rules import RuleSet
from shadow.side_effects import PrimaryEffects
from shadow.sink import CandidateSink, SinkConfig, admit
from shadow.store import ObservationStore

log = structlog.get_logger("shadow.worker")
_STOP = None  # end of the copies; the worker drains what it started and exits


class DiscardingStore(ObservationStore):
    """For a worker that only reports back: keeps nothing."""

    def add(self, observation: Observation) -> None:
        return None

    def since(self, capability: str | None, since: datetime) -> list[Observation]:
        return []

    def prune(self, before: datetime) -> int:
        return 0


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the worker needs; pickled to it, so factories must be importable module-level callables."""

    config: SinkConfig
    rules: RuleSet
    store_factory: Callable[[], ObservationStore] = DiscardingStore
    primary_effects: PrimaryEffects | None = None  # e.g. OutboxEffects(url): state crosses as a copy
    report: bool = False


_FIELDS = tuple(f.name for f in dataclasses.fields(ShadowCopy))
_as_tuple = operator.attrgetter(*_FIELDS)
_HEADER = struct.Struct("!i")  # multiprocessing.Connection's framing: recv_bytes() reads these frames
_STOP_FRAME = _HEADER.pack(0)  # an empty frame: the end of the copies


def encode(copy: ShadowCopy) -> bytes:
    """One frame: a copy as a plain tuple, marshalled.

    Every field is a str, bytes, int, float, bool, None or a tuple of them, which marshal
    writes without pickle's memo (faster, on the proxy's loop), and both ends run the same
    interpreter (the worker is spawned from it), so its version-specific format is safe here.
    Pickling the dataclass itself costs ~3x more.
    """
    data = marshal.dumps(_as_tuple(copy))
    return _HEADER.pack(len(data)) + data


def decode(data: bytes) -> ShadowCopy:
    return ShadowCopy(*marshal.loads(data))  # noqa: S302 - our own process wrote it, over a private pipe


class ComparatorProcess(ShadowSink):
    """Copies cross to the worker over a private pipe, written straight from the event loop.

    No queue thread: a ``multiprocessing.Queue`` wakes a feeder thread per copy, which then
    pickles on the proxy's GIL; here the loop writes one pre-framed tuple with a non-blocking
    ``os.write`` (a marshalled tuple: about 1 µs). When the worker falls behind, the pipe fills
    (``pipe_bytes``, 1 MiB where the system allows) and whole frames wait in a buffer here of
    at most ``max_queued_bytes``, written in order as soon as the pipe has room (the loop
    watches it; also on the next copy, and at ``close``). A copy that does not fit in the
    buffer is dropped and counted. A frame the pipe takes only part of has its rest first in
    the buffer, so a frame is never torn.
    """

    def __init__(self, spec: WorkerSpec, *, max_queued_bytes: int = 4 << 20,
                 pipe_bytes: int = 1 << 20) -> None:
        self.spec = spec
        self.counts: Counter[str] = Counter()
        self.observations: list[Observation] = []  # reported back (``spec.report``), after ``collect()``
        context = multiprocessing.get_context("spawn")
        self._reader, writer = context.Pipe(duplex=False)
        self._fd: int | None = os.dup(writer.fileno())  # a plain fd: we frame and write it ourselves
        writer.close()
        os.set_blocking(self._fd, False)
        self.capacity = _set_pipe_size(self._fd, pipe_bytes)
        self.max_queued_bytes = max_queued_bytes
        self._pending = bytearray()  # whole frames (the first maybe begun) the pipe had no room for
        self._watching: asyncio.AbstractEventLoop | None = None  # the loop waiting to write it
        self._lock = threading.Lock()  # consume runs on the loop; close on another thread
        self._broken = False
        self._reports: Any = context.Queue()
        self._process = context.Process(target=_worker_main, args=(spec, self._reader, self._reports),
                                        name="shadow-comparator", daemon=True)
        self.worker_counts: dict[str, int] = {}
        self.worker_pid: int | None = None
        # CPU seconds the worker spent from ready to done (sent on close): what shadowing costs
        self.worker_cpu_s: float | None = None
        self._starting: threading.Thread | None = None
        self._failed = False

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker and wait until it reads copies (spawn imports take a second or two)."""
        self._process.start()
        self._reader.close()  # the worker holds the read end now: its death breaks our writes
        try:
            kind, payload = self._reports.get(timeout=timeout)
        except queue.Empty:
            kind, payload = "no answer", f"within {timeout:g}s"
        if kind != "ready":
            self._failed = True
            raise RuntimeError(f"the comparator worker did not start: {kind}: {payload}")
        self.worker_pid = payload

    def start_in_background(self) -> None:
        """Start the worker from a thread (idempotent); copies queue up meanwhile."""
        if self._starting is None and self.worker_pid is None:
            self._starting = threading.Thread(target=self._start_logged, name="shadow-comparator-start",
                                              daemon=True)
            self._starting.start()

    def _start_logged(self) -> None:
        try:
            self.start()
        except Exception as exc:  # a worker that cannot start only drops copies; it must not stop the proxy
            log.error("shadow.worker_failed_to_start", error=str(exc))
        else:
            log.info("shadow.worker_started", pid=self.worker_pid)

    @property
    def usable(self) -> bool:
        """Not known to be down: a copy written now will be compared.

        Asked per copy, so no ``is_alive()`` (a ``waitpid``, ~13 µs on the proxy's loop): a
        worker that died closed the pipe's only read end, and the next write's ``EPIPE``
        marks the sink broken.
        """
        return not (self._failed or self._broken or self._fd is None)

    async def consume(self, copy: ShadowCopy) -> None:
        self.consume_now(copy)

    def consume_now(self, copy: ShadowCopy) -> bool:
        """Admit and forward ``copy`` without waiting; a full pipe or a dead worker drops it
        (counted). Always takes the copy: the tee needs no queue in front of this sink."""
        if not admit(copy, self.spec.rules, self.counts):
            return True
        self.start_in_background()
        if not self.usable:
            self.counts["dropped_worker_down"] += 1
            return True
        frame = encode(copy)
        with self._lock:
            if self._fd is None:  # close() ran on another thread since ``usable`` was read
                self.counts["dropped_worker_down"] += 1
                return True
            if self._pending:
                self._write_pending()
            if self._pending:  # the pipe is full: the frame waits behind the others, if it fits
                if len(self._pending) + len(frame) > self.max_queued_bytes:
                    self.counts["dropped_queue_full"] += 1
                    return True
                self._pending += frame
            else:
                written = self._write(frame)
                if written < 0 and self._broken:
                    self.counts["dropped_worker_down"] += 1
                    return True
                if written < len(frame):
                    self._pending += frame[max(written, 0):]
                    self._watch()
        self.counts["forwarded"] += 1
        return True

    def _write(self, data: bytes | bytearray) -> int:
        """Bytes written, or -1 (pipe full, or the worker gone: ``_broken``). Holds ``_lock``."""
        assert self._fd is not None
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return -1
        except OSError:  # EPIPE: the worker died
            self._broken = True
            return -1

    def _write_pending(self) -> None:
        written = self._write(self._pending)
        if written > 0:
            del self._pending[:written]
        elif self._broken:
            self._pending.clear()

    def _watch(self) -> None:
        """Write the waiting frames as soon as the pipe has room, if a loop is here to notice."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # the next copy, or close(), writes it
        if self._watching is not loop:
            assert self._fd is not None
            loop.add_writer(self._fd, self._on_writable)
            self._watching = loop

    def _on_writable(self) -> None:
        with self._lock:
            if self._pending and self._fd is not None:
                self._write_pending()
            if not self._pending and self._watching is not None and self._fd is not None:
                self._watching.remove_writer(self._fd)
                self._watching = None

    def collect(self) -> list[Observation]:
        """Take what the worker reported so far (non-blocking); also kept in ``observations``."""
        taken: list[Observation] = []
        while True:
            try:
                kind, payload = self._reports.get_nowait()
            except queue.Empty:
                break
            if kind == "observation":
                taken.append(payload)
            elif kind == "cpu":
                self.worker_cpu_s = payload
            elif kind == "counts":
                self.worker_counts = payload
        self.observations += taken
        return taken

    def close(self, timeout: float = 30.0) -> None:
        """Let the worker finish what it was given, then stop it (terminated after ``timeout``)."""
        if self._starting is not None:
            self._starting.join(timeout)  # a worker still booting gets its copies compared too
        deadline = time.monotonic() + timeout
        self._end_copies(deadline)
        if self._process.is_alive():
            while self._process.is_alive() and time.monotonic() < deadline:
                self.collect()  # a full report pipe would keep the worker from exiting
                self._process.join(0.05)
            if self._process.is_alive():
                log.warning("shadow.worker_terminated", pid=self._process.pid)
                self._process.terminate()
                self._process.join(5)
        self.collect()

    def _end_copies(self, deadline: float) -> None:
        """Write the rest of a torn frame and the stop frame (waiting for room until
        ``deadline``), then close our end of the pipe."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            if self._process.pid is None:  # never started: nobody else holds the read end
                self._reader.close()
            loop, self._watching = self._watching, None
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(_forget_writer, loop, fd)
            alive = self._process.is_alive() and not self._broken
            rest = bytes(self._pending) + _STOP_FRAME if alive else b""
            self._pending.clear()
            try:
                while rest and select.select([], [fd], [], max(0.0, deadline - time.monotonic()))[1]:
                    rest = rest[os.write(fd, rest):]
            except OSError:  # the worker died meanwhile: nothing reads what is left
                pass
            finally:
                os.close(fd)


def _forget_writer(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    with contextlib.suppress(Exception):  # the fd may be closed already: nothing to forget then
        loop.remove_writer(fd)


def _set_pipe_size(fd: int, size: int) -> int:
    """Ask for a pipe of ``size`` bytes (Linux caps it at /proc/sys/fs/pipe-max-size); the size granted."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if set_size is None or get_size is None:  # pragma: no cover - not Linux: the default size bounds it
        return 65536
    with contextlib.suppress(OSError):  # above the system's cap: keep what we have
        fcntl.fcntl(fd, set_size, size)
    granted: int = fcntl.fcntl(fd, get_size)
    return granted


class _ReportingStore(ObservationStore):
    def __init__(self, inner: ObservationStore, reports: Any) -> None:
        self.inner = inner
        self.reports = reports

    def add(self, observation: Observation) -> None:
        self.inner.add(observation)
        self.reports.put(("observation", observation))

    def since(self, capability: str | None, since: datetime) -> list[Observation]:
        return self.inner.since(capability, since)

    def prune(self, before: datetime) -> int:
        return self.inner.prune(before)


def _worker_main(spec: WorkerSpec, copies: Any, reports: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop, and flushes first
    try:
        import uvloop

        uvloop.run(_serve(spec, copies, reports))
    except ImportError:  # pragma: no cover - uvloop is a dependency of the data plane
        asyncio.run(_serve(spec, copies, reports))


def _next_copy(copies: Any) -> Any:
    """The next copy; the end (``_STOP``) on the stop frame, or when the parent died and the pipe broke.

    One at a time, as the sink takes them: reading what has arrived in batches put up to
    ``max_in_flight`` candidate calls in flight at once, and the pool's connection churn made
    the worker three times slower (measured). Reading on the worker's own loop instead
    (``add_reader``, no thread hop) did the same: frames already buffered went to the sink
    back to back, since ``consume`` only starts a comparison; a fifth of the copies were
    dropped at 1,600 requests/s (session 6).
    """
    try:
        data = copies.recv_bytes()
    except (EOFError, OSError):
        return _STOP
    return decode(data) if data else _STOP


async def _serve(spec: WorkerSpec, copies: Any, reports: Any) -> None:
    try:
        store = spec.store_factory()
    except Exception as exc:  # e.g. the database is unreachable: say so to the parent, which logs it
        reports.put(("store_failed", f"{type(exc).__name__}: {exc}"))
        return
    if spec.report:
        store = _ReportingStore(store, reports)
    sink = CandidateSink(spec.config, spec.rules, store, primary_effects=spec.primary_effects)
    loop = asyncio.get_running_loop()
    reports.put(("ready", os.getpid()))
    cpu_at_ready = time.process_time()
    try:
        while True:
            copy = await loop.run_in_executor(None, _next_copy, copies)  # a blocking read, off the loop
            if copy is _STOP:
                break
            await sink.wait_for_room()  # the bounded buffer in front is where copies are dropped
            await sink.consume(copy)
    finally:
        await sink.close()
        reports.put(("cpu", time.process_time() - cpu_at_ready))
        reports.put(("counts", dict(sink.counts)))
