"""Throttle: pause between chunks while the monolith's own latency is above a bound.

``Throttle`` is the policy (pure; its clock-free state is the recent samples and the
current pause): the p95 of the last ``window`` probe samples above ``bound_ms``
doubles the pause (up to ``max_pause``); at or below it the pause halves towards
``min_pause``. ``MonolithProbe`` measures a cheap stand-in for the monolith's
latency: the round trip of the monolith's hottest read (a wallet by primary key)
on its own database, on a connection of its own, so the backfill's load shows up
in it the way it would in the monolith's requests.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class Throttle:
    bound_ms: float
    min_pause: float = 0.0
    max_pause: float = 5.0
    window: int = 20
    pause: float = 0.0
    samples: deque[float] = field(default_factory=deque)

    def observe(self, latency_ms: float) -> float:
        """Record one probe sample; returns the pause (seconds) to take before the next chunk."""
        self.samples.append(latency_ms)
        while len(self.samples) > self.window:
            self.samples.popleft()
        if self.p95() > self.bound_ms:
            self.pause = min(self.max_pause, max(self.pause * 2, 0.05, self.min_pause))
        else:
            self.pause = max(self.min_pause, self.pause / 2 if self.pause > 0.01 else 0.0)
        return self.pause

    def p95(self) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


class MonolithProbe:
    """Times one primary-key read of a wallet on the monolith's database, in milliseconds."""

    clock = staticmethod(time.perf_counter)  # a test seam, as a class attribute

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def __call__(self) -> float:
        started = self.clock()
        self.conn.execute("SELECT balance FROM wallets_wallet WHERE id = "
                          "(SELECT max(id) FROM wallets_wallet)").fetchone()
        return (self.clock() - started) * 1000.0
