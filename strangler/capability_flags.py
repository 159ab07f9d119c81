"""Reads a capability's cutover mode where no proxy stands in between: inline side effects.

The routing proxy applies modes to HTTP routes. Some capabilities have no route of their
own: the monolith's inline webhooks and notifications, its internal ledger port. The code
on both sides of such a seam (the monolith's legacy path and the extracted service) asks
``mode_of(capability, key)`` and acts on the answer:

* ``monolith``  — the legacy path only;
* ``shadow``    — the legacy path acts; the extracted side computes what it would do,
  records it and compares, without acting;
* ``extracted`` — the legacy path is off; the extracted side acts.

A ``canary`` capability answers ``extracted`` for keys inside its share and ``monolith``
for the others (the same stable bucketing as the proxy's, ``routing_proxy.decision``), so
an aggregate's side effects never straddle both paths. The global and per-capability kill
switches answer ``monolith``. A capability the control plane does not know is ``monolith``.

The flag is read from the control plane's own tables (the flips go through the control
plane as every flip does: gated, audited) and cached for ``ttl`` seconds per process. When
the control plane cannot be reached the last answer is kept for up to ``max_stale`` seconds
(10); with no answer, or an older one,
``FlagUnavailable`` is raised and the caller decides, because the safe default differs: a
notification may fall back to the legacy path, a ledger write after its cutover must not.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

import psycopg

from routing_proxy.decision import in_canary
from strangler.errors import StranglerError

SideMode = Literal["monolith", "shadow", "extracted"]

_READ = """
SELECT c.mode, c.canary_basis_points, c.killed,
       COALESCE((SELECT kill_switch FROM routing_globalswitch WHERE id = 1), false)
FROM routing_capability c WHERE c.name = %s
"""


class FlagUnavailable(StranglerError):
    """The control plane could not be read and no earlier answer is cached."""


@dataclass(frozen=True)
class FlagState:
    mode: str  # monolith | shadow | canary | extracted, as stored
    canary_basis_points: int
    killed: bool

    def for_key(self, capability: str, key: str | None) -> SideMode:
        if self.killed or self.mode == "monolith":
            return "monolith"
        if self.mode == "canary":
            if key is None:
                return "monolith"  # no key, no stable bucket: stay on the legacy path
            return "extracted" if in_canary(capability, self.canary_basis_points, key) else "monolith"
        return "shadow" if self.mode == "shadow" else "extracted"


_UNKNOWN = FlagState("monolith", 0, False)


class CapabilityFlags:
    """A per-process reader with a short cache; thread-safe."""

    def __init__(self, control_database_url: str, *, ttl: float = 1.0, max_stale: float = 10.0) -> None:
        self._url = control_database_url
        self._ttl = ttl
        # through an outage the last answer is kept this long, no longer: a flip made meanwhile
        # must not be ignored for ever (a monolith writing legacy postings after the ledger took over)
        self._max_stale = max_stale
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, FlagState]] = {}
        # the last failed read (time, message): without an answer to keep, the next ttl seconds
        # fail at once instead of every write waiting for another connect timeout
        self._failed: tuple[float, str] | None = None

    def state(self, capability: str) -> FlagState:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(capability)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        usable = cached if cached is not None and now - cached[0] < self._max_stale else None
        failed = self._failed
        if failed is not None and now - failed[0] < self._ttl:
            if usable is not None:
                return usable[1]
            raise FlagUnavailable(self._explain(capability, failed[1]))
        try:
            # bounded: callers ask inside money transactions, holding a wallet's row lock
            with psycopg.connect(self._url, connect_timeout=2, autocommit=True,
                                 options="-c statement_timeout=1000") as conn:
                row = conn.execute(_READ, (capability,)).fetchone()
        except psycopg.Error as exc:
            self._failed = (now, str(exc).strip())
            if usable is not None:
                return usable[1]  # keep acting on the last answer for a while, as the proxy does
            raise FlagUnavailable(self._explain(capability, str(exc).strip())) from exc
        self._failed = None
        state = _UNKNOWN if row is None else FlagState(
            str(row[0]), int(row[1]), bool(row[2]) or bool(row[3]))
        with self._lock:
            self._cache[capability] = (now, state)
        return state

    @staticmethod
    def _explain(capability: str, why: str) -> str:
        return (f"cannot read capability {capability!r} from the control plane ({why}); "
                "check STRANGLER_CONTROL_DATABASE_URL and that the control plane is migrated")

    def mode_of(self, capability: str, key: str | None = None) -> SideMode:
        return self.state(capability).for_key(capability, key)

    def forget(self) -> None:
        """Drop the cache (tests, or right after a flip made by this process)."""
        with self._lock:
            self._cache.clear()


_default: CapabilityFlags | None = None
_default_lock = threading.Lock()


def default_flags() -> CapabilityFlags:
    global _default
    with _default_lock:
        if _default is None:
            from strangler.config import get_settings

            _default = CapabilityFlags(get_settings().control_database_url)
        return _default


def mode_of(capability: str, key: str | None = None) -> SideMode:
    """The mode of ``capability`` for the aggregate ``key``, from the configured control plane."""
    return default_flags().mode_of(capability, key)


def reset_default_flags() -> None:
    global _default
    with _default_lock:
        _default = None
