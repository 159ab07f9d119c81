"""The legacy client's load, running through the proxy for the whole journey, booked per phase.

A thread runs ``legacy_client.run_load`` in short slices and adds each slice's
figures to the phase current when it ended, so "client-visible errors in phase X"
means what it says. A slice straddling a phase change is booked to the later phase:
never to an earlier one, which would hide an error caused by the change.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from legacy_client import run_load
from legacy_client.load import LoadReport

SLICE_SECONDS = 2.0


@dataclass
class PhaseLoad:
    requests: int = 0
    errors: Counter[int] = field(default_factory=Counter)  # status -> count; 0 = no answer
    seconds: float = 0.0
    p95_ms: float = 0.0  # of the phase's slowest slice: an upper bound, not a merged percentile

    @property
    def client_visible_errors(self) -> int:
        """No answer at all, or the server failed: a legacy client would notice either."""
        return sum(n for status, n in self.errors.items() if status == 0 or status >= 500)

    def add(self, report: LoadReport) -> None:
        self.requests += report.requests
        self.errors.update(report.errors)
        self.seconds += report.duration_s
        self.p95_ms = max(self.p95_ms, report.latency.p95_ms)


class BackgroundLoad:
    def __init__(self, base_url: str, api_keys: list[str], concurrency: int) -> None:
        self.base_url = base_url
        self.api_keys = api_keys
        self.concurrency = concurrency
        self.phases: dict[str, PhaseLoad] = {}
        self.phase = "start"
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="legacy-load", daemon=True)
        self._seed = 0

    def start(self, phase: str) -> None:
        self.enter(phase)
        self._thread.start()

    def enter(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            self.phases.setdefault(phase, PhaseLoad())

    def current(self) -> PhaseLoad:
        with self._lock:
            return self.phases[self.phase]

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=SLICE_SECONDS + 35)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._seed += 1
            try:
                report = run_load(self.base_url, api_keys=self.api_keys, concurrency=self.concurrency,
                                  duration_s=SLICE_SECONDS, seed=self._seed)
            except BaseException as exc:  # the journey reads it and fails the run, naming it
                self.failure = exc
                return
            with self._lock:
                self.phases[self.phase].add(report)
