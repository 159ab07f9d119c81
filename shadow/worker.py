"""ComparatorProcess: the proxy's ShadowSink when comparing must not share the proxy's process.

Comparing costs CPU (parse, prepare, diff) and, in the proxy's process, competes
with its event loop for the GIL: the primary answers slower in shadow mode.
Here the proxy's side only admits a copy (sampling, writes without dry-run) and
puts it on a bounded ``multiprocessing`` queue without waiting; a full queue or a
dead worker drops the copy and counts it, so the client never waits. One worker
process runs a ``CandidateSink`` on its own event loop: it calls the candidate
(and secondary), compares, and writes observations to a store it builds itself
(``store_factory``, called in the worker: a database connection cannot cross
processes). With ``report=True`` the worker also sends each observation back
(tests, benchmarks) for ``collect()``.

The worker is started with ``spawn``: forking a process that runs threads and
an event loop is unsafe. ``start()`` waits for it; ``consume`` starts it on the
first copy instead (in a thread, so the event loop never waits): a proxy with no
shadow route pays for no process, and copies that arrive while it boots wait in
the bounded queue. The worker ignores SIGINT (Ctrl-C reaches the whole process
group): only its parent stops it, with ``close()``, after it has compared and
stored every copy it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
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


class ComparatorProcess(ShadowSink):
    def __init__(self, spec: WorkerSpec, *, max_queued: int = 1024) -> None:
        self.spec = spec
        self.counts: Counter[str] = Counter()
        self.observations: list[Observation] = []  # reported back (``spec.report``), after ``collect()``
        context = multiprocessing.get_context("spawn")
        self._copies: Any = context.Queue(max_queued)
        self._reports: Any = context.Queue()
        self._process = context.Process(target=_worker_main, args=(spec, self._copies, self._reports),
                                        name="shadow-comparator", daemon=True)
        self.worker_counts: dict[str, int] = {}
        self.worker_pid: int | None = None
        self._starting: threading.Thread | None = None
        self._failed = False

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker and wait until it reads copies (spawn imports take a second or two)."""
        self._process.start()
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
        """Running, or still starting: a copy put on the queue now will be compared."""
        if self._failed:
            return False
        return self.worker_pid is None or self._process.is_alive()

    async def consume(self, copy: ShadowCopy) -> None:
        """Admit and forward ``copy`` without waiting; a full queue or a dead worker drops it (counted)."""
        if not admit(copy, self.spec.rules, self.counts):
            return
        self.start_in_background()
        if not self.usable:
            self.counts["dropped_worker_down"] += 1
            return
        try:
            self._copies.put_nowait(copy)
        except queue.Full:
            self.counts["dropped_queue_full"] += 1
            return
        self.counts["forwarded"] += 1

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
            elif kind == "counts":
                self.worker_counts = payload
        self.observations += taken
        return taken

    def close(self, timeout: float = 30.0) -> None:
        """Let the worker finish what it was given, then stop it (terminated after ``timeout``)."""
        if self._starting is not None:
            self._starting.join(timeout)  # a worker still booting gets its copies compared too
        if not self._process.is_alive():
            self._copies.cancel_join_thread()  # nobody will read what is queued: do not hang at exit
        if self._process.is_alive():
            with contextlib.suppress(queue.Full):
                self._copies.put(_STOP, timeout=timeout)
            deadline = time.monotonic() + timeout
            while self._process.is_alive() and time.monotonic() < deadline:
                self.collect()  # a full report pipe would keep the worker from exiting
                self._process.join(0.05)
            if self._process.is_alive():
                log.warning("shadow.worker_terminated", pid=self._process.pid)
                self._process.terminate()
                self._process.join(5)
        self.collect()


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
    """The next copy; the end (``_STOP``) also when the parent died and the queue's pipe broke."""
    try:
        return copies.get()
    except (EOFError, OSError):
        return _STOP


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
    try:
        while True:
            copy = await loop.run_in_executor(None, _next_copy, copies)  # a blocking read, off the loop
            if copy is _STOP:
                break
            await sink.wait_for_room()  # the bounded queue in front is where copies are dropped
            await sink.consume(copy)
    finally:
        await sink.close()
        reports.put(("counts", dict(sink.counts)))
