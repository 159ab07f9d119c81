"""Incremental runs: keep the clean first-level segments of a run, skip them next night
when both sides prove them unchanged. Pure: planning, the skip rule, (de)serialisation.

Recomputing a segment's checksum *is* the cost, so skipping needs a change signal that
is cheaper than the checksum and that no write can evade. Neither ledger has one that
is complete: ``wallets_transaction`` has no ``updated_at`` (and a raw-SQL update would
not bump one), the ACL outbox covers the legacy side only, and nothing logs the
extracted side's writes. What both sides do have is PostgreSQL's tuple identity: every
INSERT or UPDATE writes a new row version with the writing transaction's id in ``xmin``
at a new ``ctid``; nothing rewrites a live row version in place. So per segment each side
computes a *fingerprint*, ``count(*)`` and the sum of ``hash(xmin, ctid)`` over the base
table's row versions in the key range — reading two system columns, no join and no
canonical text — and a segment whose fingerprints on BOTH sides equal the ones stored
when it was last verified clean holds the same row versions, hence the same data:

    UPDATE (row count unchanged)   new xmin and ctid for that row: its hash changes
    DELETE                         count changes (and the sum)
    INSERT, a key moved in or out  count changes (and the sum)
    delete + insert, same key      the new row version has a new xmin: sum changes

A sum could cancel only by a 64-bit hash collision. What tuple identity cannot see is
judged separately and, if in doubt, the segment or the whole run is rechecked:

    joined tables (wallets_wallet for the currency): a content hash of the columns the
        mapping reads, per join key; a key whose hash changed, appeared or disappeared
        marks every segment holding a base row that joins to it as changed
    rewrites that keep xmin (ALTER COLUMN TYPE, VACUUM FULL, CLUSTER, TRUNCATE, restore):
        the side *identity* (database, relfilenode and column types of every relation)
        differs, so the whole run is full
    mapping version or row hash changed: full
    views, foreign or partitioned tables, keys that come from a joined table: no
        trustworthy tuple identity, so incremental is refused for that comparison

The first-level segments of an incremental run are the stored ones plus gap segments
(previously not clean) plus segments for keys beyond the stored range, contiguous
and sorted, so the adapter buckets them with one ``width_bucket`` like a full run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconcile.segments import Segment
from reconcile.sql import Key

FULL, INCREMENTAL = "full", "incremental"
MOD = 1 << 64

Probe = tuple[int, int, int]  # (row count, fingerprint sum mod 2**64, rows joining a changed key)
JoinContent = Mapping[str, Mapping[str, int]]  # joined alias -> join key text -> content hash


@dataclass(frozen=True)
class SideBasis:
    """What one side's fingerprints mean something against: None identity = incremental
    impossible here (``why_not`` says why)."""

    identity: str | None
    why_not: str = ""
    joined: JoinContent = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentRecord:
    """A first-level segment verified clean: equal count and checksum on both sides."""

    segment: Segment
    rows: int
    checksum: int  # sum of row hashes mod 2**64 (the same on both sides)
    legacy_fp: int
    extracted_fp: int


@dataclass(frozen=True)
class Baseline:
    """The clean segments of one comparison at one run, and what they were verified under."""

    basis: str  # label of the run that verified them (the control plane's run id)
    mapping_hash: str
    row_hash: str
    identity: tuple[str, str]  # legacy, extracted SideBasis.identity
    joined: tuple[JoinContent, JoinContent]
    segments: tuple[SegmentRecord, ...]


@dataclass
class Coverage:
    """How a comparison covered the key range; recorded in the run's manifest."""

    mode: str = FULL
    reason: str = "no earlier clean segments"  # why full, or what the increment rests on
    segments: int = 0  # first-level segments covering the key range
    rechecked: int = 0  # of which checksummed in this run
    carried: int = 0  # of which proven unchanged since ``basis`` and not re-read
    rows_carried: int = 0
    basis: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "reason": self.reason, "segments": self.segments,
                "rechecked": self.rechecked, "carried": self.carried,
                "rows_carried": self.rows_carried, "basis": self.basis}


def refusal(baseline: Baseline | None, mapping_hash: str, row_hash: str,
            bases: tuple[SideBasis, SideBasis]) -> str | None:
    """Why ``baseline`` cannot be used for this run (then the run is full), or None."""
    for side, basis in zip(("legacy", "extracted"), bases, strict=True):
        if basis.identity is None:
            return f"incremental is not possible on the {side} side: {basis.why_not}"
    if baseline is None:
        return "no earlier clean segments"
    if baseline.mapping_hash != mapping_hash:
        return f"the mapping changed since run {baseline.basis}"
    if baseline.row_hash != row_hash:
        return f"the row hash changed since run {baseline.basis}"
    for side, basis, stored in zip(("legacy", "extracted"), bases, baseline.identity,
                                   strict=True):
        if basis.identity != stored:
            return (f"the {side} tables were rewritten, retyped or moved since run "
                    f"{baseline.basis} (relfilenode, column types or database differ)")
    if not baseline.segments:
        return f"run {baseline.basis} left no clean segments"
    return None


def changed_keys(before: JoinContent, after: JoinContent) -> dict[str, list[str]]:
    """Per joined alias, the join keys whose read columns changed, appeared or vanished."""
    out: dict[str, list[str]] = {}
    for alias in sorted(set(before) | set(after)):
        old, new = before.get(alias, {}), after.get(alias, {})
        out[alias] = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return out


def plan(stored: Sequence[Segment], lo: Key, hi: Key) -> list[tuple[Segment, int | None]]:
    """Contiguous first-level segments covering the stored ones and ``[lo, hi]``.

    Each comes with the index of the stored record it is exactly, or None for a gap
    (not clean last time), an extension beyond the stored range, or a stored last
    segment whose inclusive end had to be opened to extend past it (its range changed,
    so its fingerprint no longer applies).
    """
    out: list[tuple[Segment, int | None]] = []
    cursor = min(lo, stored[0].lo) if stored else lo
    for index, segment in enumerate(stored):
        if cursor < segment.lo:
            out.append((Segment(cursor, segment.lo), None))
        if segment.hi_inclusive and hi > segment.hi:
            out.append((Segment(segment.lo, segment.hi), None))
        else:
            out.append((segment, index))
        cursor = segment.hi
    if not out or not out[-1][0].hi_inclusive:
        out.append((Segment(cursor, max(hi, cursor), True), None))
    return out


def unchanged(record: SegmentRecord, legacy: Probe, extracted: Probe) -> bool:
    """Skip rule: both sides hold exactly the row versions verified, nothing joins a changed key."""
    return (legacy == (record.rows, record.legacy_fp, 0)
            and extracted == (record.rows, record.extracted_fp, 0))


# -- storage ---------------------------------------------------------------------------
def to_json(baseline: Baseline) -> dict[str, Any]:
    return {
        "basis": baseline.basis, "mapping_hash": baseline.mapping_hash,
        "row_hash": baseline.row_hash, "identity": list(baseline.identity),
        "joined": [{a: dict(sorted(m.items())) for a, m in sorted(j.items())}
                   for j in baseline.joined],
        "segments": [[list(r.segment.lo), list(r.segment.hi), r.segment.hi_inclusive, r.rows,
                      r.checksum, r.legacy_fp, r.extracted_fp] for r in baseline.segments],
    }


def from_json(data: Mapping[str, Any], basis: str | None = None) -> Baseline:
    segments = tuple(SegmentRecord(Segment(tuple(lo), tuple(hi), bool(incl)), int(rows),
                                   int(checksum), int(lfp), int(efp))
                     for lo, hi, incl, rows, checksum, lfp, efp in data["segments"])
    legacy, extracted = data["identity"]
    joined = data["joined"]
    return Baseline(basis or str(data["basis"]), str(data["mapping_hash"]),
                    str(data["row_hash"]), (str(legacy), str(extracted)),
                    (joined[0], joined[1]), segments)


def digest(data: Mapping[str, Any]) -> str:
    """sha256 of the stored form, recorded in the signed manifest of the run that kept it."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
