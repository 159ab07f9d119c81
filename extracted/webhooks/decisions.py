"""The one recorded decision per occurrence: which side delivers it (see ``cutover``).

``decide`` proposes the flag's current answer for each occurrence and returns what is
recorded, which is the proposal only for the first asker. ``PgDecisions`` keeps the rows
in the control plane's database (the one the flags live in, reachable by the monolith and
by this service); ``MemoryDecisions`` is the fake with the same contract. Nothing here
knows about webhooks, so notification dispatch can use the same rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import psycopg

from extracted.webhooks.errors import DecisionUnavailable
from strangler.capability_flags import FlagUnavailable, SideMode

ModeOf = Callable[[str, str | None], SideMode]  # CapabilityFlags.mode_of

_DDL = """
CREATE TABLE IF NOT EXISTS strangler_side_decision (
    capability text        NOT NULL,
    occurrence text        NOT NULL,
    mode       text        NOT NULL CHECK (mode IN ('monolith', 'shadow', 'extracted')),
    decided_by text        NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (capability, occurrence)
)
"""
# One statement: record the proposals nobody decided yet, return those plus the decided ones.
# A row another transaction commits meanwhile is not in this statement's snapshot; ``record``
# reads such stragglers again.
_RECORD = """
WITH proposed AS (SELECT * FROM unnest(%(occ)s::text[], %(mode)s::text[]) AS p(occurrence, mode)),
inserted AS (
  INSERT INTO strangler_side_decision (capability, occurrence, mode, decided_by)
  SELECT %(cap)s, occurrence, mode, %(by)s FROM proposed
  ON CONFLICT DO NOTHING RETURNING occurrence, mode)
SELECT occurrence, mode FROM inserted
UNION ALL
SELECT d.occurrence, d.mode FROM strangler_side_decision d
WHERE d.capability = %(cap)s AND d.occurrence = ANY(%(occ)s::text[])
"""
_READ = ("SELECT occurrence, mode FROM strangler_side_decision"
         " WHERE capability = %s AND occurrence = ANY(%s::text[])")


class Decisions(Protocol):
    def record(self, capability: str, proposals: Mapping[str, SideMode], by: str) -> dict[str, SideMode]:
        """The recorded mode of every proposed occurrence (a proposal wins only where none was)."""
        ...


def decide(mode_of: ModeOf, store: Decisions, capability: str, occurrences: Mapping[str, str],
           by: str, fixed: Mapping[str, SideMode] | None = None) -> dict[str, SideMode]:
    """``occurrences``: occurrence -> canary key, proposed with the flag's answer; ``fixed``:
    occurrences proposed with a given mode instead. Raises ``DecisionUnavailable`` if it cannot tell."""
    if not occurrences and not fixed:
        return {}
    # The flag is read once per key: occurrences of one event share a key, and a cache refresh
    # between two reads could split them (one legacy, one extracted), and the event's legacy
    # path, which delivers all of its occurrences or none, would then send one twice.
    by_key: dict[str, SideMode] = {}
    try:
        for key in occurrences.values():
            if key not in by_key:
                by_key[key] = mode_of(capability, key)
    except FlagUnavailable as exc:
        raise DecisionUnavailable(str(exc)) from exc
    proposals = {occ: by_key[key] for occ, key in occurrences.items()}
    return store.record(capability, {**proposals, **(fixed or {})}, by)


class MemoryDecisions:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], SideMode] = {}
        self._lock = threading.Lock()

    def record(self, capability: str, proposals: Mapping[str, SideMode], by: str) -> dict[str, SideMode]:
        with self._lock:
            return {occ: self.rows.setdefault((capability, occ), mode) for occ, mode in proposals.items()}


class PgDecisions:
    """Decision rows in ``database_url`` (the control plane's); one connection per thread."""

    def __init__(self, database_url: str, *, connect_timeout: int = 2) -> None:
        self._url, self._timeout = database_url, connect_timeout
        self._local = threading.local()
        self._ready = False

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            # bounded: the monolith asks inside its write transaction, holding the wallet's row lock
            conn = psycopg.connect(self._url, connect_timeout=self._timeout, autocommit=True,
                                   options=f"-c statement_timeout={int(self._timeout * 1000)}")
            if not self._ready:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('strangler_side_decision'))")
                    conn.execute(_DDL)
                self._ready = True
            self._local.conn = conn
        return conn

    def record(self, capability: str, proposals: Mapping[str, SideMode], by: str) -> dict[str, SideMode]:
        if not proposals:
            return {}
        occurrences = list(proposals)
        try:
            conn = self._conn()
            params = {"occ": occurrences, "mode": [proposals[o] for o in occurrences],
                      "cap": capability, "by": by}
            found = dict(conn.execute(_RECORD, params, binary=True).fetchall())
            missing = [o for o in occurrences if o not in found]
            if missing:  # decided by a transaction that committed during the statement above
                found.update(conn.execute(_READ, (capability, missing), binary=True).fetchall())
        except psycopg.Error as exc:
            self.close()
            raise DecisionUnavailable(
                f"cannot record who delivers {len(occurrences)} occurrence(s) of {capability} in the "
                f"control plane ({exc})") from exc
        if len(found) != len(occurrences):
            raise DecisionUnavailable(f"decisions for {capability} vanished while being read; retry")
        return {occ: found[occ] for occ in occurrences}

    def prune(self, older_than_days: float) -> int:
        """Drop decisions older than any event still in flight could be (e.g. 7 days)."""
        cur = self._conn().execute(
            "DELETE FROM strangler_side_decision WHERE decided_at < now() - %s * interval '1 day'",
            (older_than_days,))
        return cur.rowcount

    def close(self) -> None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
