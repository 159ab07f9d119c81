"""Run manifests, their signed hash chain, and the parity certificate built on them. Pure.

Every finished run of a capability gets a manifest: counts, checksums and status of each
comparison, the mapping's version hash, which comparisons were expected and which
completed, how each covered its key range (full, or incremental on an earlier run's clean
segments, with the digest of the segments it kept), the count and digest of the run's
discrepancy rows, its sequence number and the hash of the previous run's manifest. The
manifest is signed with HMAC-SHA256. Verifying the chain finds a run that is missing
(sequence gap, broken link), reordered (link to the wrong predecessor) or altered
(signature, or the next run's link); given the discrepancy rows as stored now, it also
finds a discrepancy row altered, added or deleted after the run was signed.

The certificate says PASS only after ``required_runs`` consecutive clean, fully covered
runs on the current mapping, at the head of an intact chain, of which at least one read
every row (``coverage.mode == "full"``). An incremental run counts as fully covered —
every segment was either compared that night or proven unchanged on both sides since a
run that compared it clean (``reconcile.incremental``) — but a PASS never rests on
carried evidence alone: the streak must contain a run that compared everything.

The key comes from the caller (the control plane derives it from its secret key with
:func:`derive_key`); nothing here reads settings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconcile.result import CLEAN, RunResult

VERSION = 2  # 2: coverage modes and the discrepancy digest
GENESIS = "0" * 64  # the previous hash of a capability's first run
_KEY_CONTEXT = b"strangler/reconcile/manifest/v1"


def derive_key(secret: str) -> bytes:
    """A signing key of its own, so the manifest key is not the Django secret itself."""
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def canonical(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str).encode()


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(manifest)).hexdigest()


def sign(manifest: Mapping[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(manifest), hashlib.sha256).hexdigest()


def comparison_entry(result: RunResult, baseline_digest: str | None = None) -> dict[str, Any]:
    """What a manifest records of one comparison (or balance check) of a run."""
    return {
        "name": result.comparison, "status": result.status,
        "complete": not result.incomplete_reasons,
        "legacy": {"rows": result.legacy.rows, "checksum": result.legacy.checksum},
        "extracted": {"rows": result.extracted.rows, "checksum": result.extracted.checksum},
        "breaks": len(result.breaks), "pending": len(result.pending),
        "by_category": result.counts(), "incomplete_reasons": list(result.incomplete_reasons),
        "coverage": {**result.coverage.as_json(), "kept_segments": baseline_digest},
    }


def discrepancy_digest(rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """Count and sha256 of a run's discrepancy rows in canonical order.

    Each row is (comparison, category, key, column, legacy value, extracted value,
    difference, pending): what the run found, not finance's later sign-off state (that
    has its own audit trail). Rows are JSON-encoded, then sorted as bytes, so the order
    does not depend on any database collation.
    """
    lines = sorted(json.dumps(list(row), separators=(",", ":"), default=str,
                              ensure_ascii=False).encode() for row in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(len(line).to_bytes(8, "big") + line)
    return {"count": len(lines), "sha256": digest.hexdigest()}


def coverage_mode(comparisons: Sequence[Mapping[str, Any]]) -> str:
    """``full`` when every comparison read every row, else ``incremental``."""
    modes = {str(c.get("coverage", {}).get("mode", "full")) for c in comparisons}
    return "full" if modes <= {"full"} else "incremental"


def build_manifest(*, run_id: int, capability: str, sequence: int, status: str,
                   mapping_source: str, mapping_hash: str, started_at: str, finished_at: str,
                   comparisons: Sequence[Mapping[str, Any]], expected: Sequence[str],
                   previous_hash: str,
                   discrepancies: Mapping[str, Any] | None = None) -> dict[str, Any]:
    completed = sorted(c["name"] for c in comparisons if c.get("complete"))
    return {
        "version": VERSION, "run_id": run_id, "capability": capability, "sequence": sequence,
        "status": status, "mapping": {"source": mapping_source, "version_hash": mapping_hash},
        "started_at": started_at, "finished_at": finished_at,
        "comparisons": sorted((dict(c) for c in comparisons), key=lambda c: str(c["name"])),
        "coverage": {"expected": sorted(expected), "completed": completed,
                     "full": set(expected) <= set(completed),
                     "mode": coverage_mode(comparisons)},
        "discrepancies": dict(discrepancies or discrepancy_digest([])),
        "previous_hash": previous_hash,
    }


@dataclass(frozen=True)
class SignedManifest:
    manifest: dict[str, Any]
    signature: str

    @property
    def hash(self) -> str:
        return manifest_hash(self.manifest)


def verify_chain(chain: Sequence[SignedManifest], key: bytes,
                 stored: Mapping[int, Mapping[str, Any]] | None = None) -> list[str]:
    """Problems with a capability's chain, oldest run first; empty when it is intact.

    ``stored``: run id -> :func:`discrepancy_digest` of its discrepancy rows as stored
    now; a run whose rows no longer match what its signed manifest recorded is reported.
    """
    problems = []
    previous_hash, previous_seq = GENESIS, 0
    for link in chain:
        m = link.manifest
        label = f"run {m.get('run_id')} (sequence {m.get('sequence')})"
        if not hmac.compare_digest(sign(m, key), link.signature):
            problems.append(f"{label}: signature does not match: the manifest was altered "
                            "or signed with another key")
        if m.get("sequence") != previous_seq + 1:
            problems.append(f"{label}: expected sequence {previous_seq + 1}: a run is missing "
                            "or out of order")
        if m.get("previous_hash") != previous_hash:
            problems.append(f"{label}: does not chain to the run before it: that run is "
                            "missing, reordered or altered")
        recorded = m.get("discrepancies")
        if stored is not None and recorded is not None:
            now = stored.get(int(m.get("run_id") or 0), discrepancy_digest([]))
            if dict(now) != dict(recorded):
                problems.append(f"{label}: its discrepancy rows changed after it was signed "
                                f"({recorded.get('count')} recorded, {now.get('count')} stored "
                                "now, digests differ): one was altered, added or deleted")
        previous_hash = link.hash
        previous_seq = int(m.get("sequence") or 0)
    return problems


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True)
class Certificate:
    capability: str
    verdict: Verdict
    reason: str
    required_runs: int
    consecutive_clean: int
    run_ids: tuple[int, ...]  # the clean runs the verdict rests on, newest first
    head_hash: str | None

    def as_json(self) -> dict[str, Any]:
        return {"capability": self.capability, "verdict": str(self.verdict),
                "reason": self.reason, "required_runs": self.required_runs,
                "consecutive_clean": self.consecutive_clean, "run_ids": list(self.run_ids),
                "head_hash": self.head_hash}


def is_clean_and_covered(manifest: Mapping[str, Any]) -> bool:
    return manifest.get("status") == CLEAN and bool(manifest.get("coverage", {}).get("full"))


def evaluate_certificate(capability: str, chain: Sequence[SignedManifest], key: bytes,
                         required_runs: int,
                         stored: Mapping[int, Mapping[str, Any]] | None = None) -> Certificate:
    """PASS after ``required_runs`` consecutive clean, fully covered runs on the head's
    mapping, at least one of them a full comparison (see the module docstring)."""
    if required_runs < 1:
        raise ValueError(f"required_runs must be at least 1, not {required_runs}")

    def cert(verdict: Verdict, reason: str, clean: int = 0, ids: tuple[int, ...] = ()) -> Certificate:
        return Certificate(capability, verdict, reason, required_runs, clean, ids,
                           chain[-1].hash if chain else None)

    if not chain:
        return cert(Verdict.INSUFFICIENT, "no finished reconciliation runs")
    problems = verify_chain(chain, key, stored)
    if problems:
        return cert(Verdict.FAIL, "the run chain is broken: " + "; ".join(problems))
    head = chain[-1].manifest
    mapping = head["mapping"]["version_hash"]
    ids: list[int] = []
    for link in reversed(chain):
        m = link.manifest
        if not is_clean_and_covered(m) or m["mapping"]["version_hash"] != mapping:
            break
        ids.append(int(m["run_id"]))
    clean = len(ids)
    modes = [str(link.manifest.get("coverage", {}).get("mode", "full"))
             for link in reversed(chain)][:required_runs]
    if clean >= required_runs and "full" not in modes:
        return cert(Verdict.INSUFFICIENT, f"{clean} consecutive clean runs, but the last "
                    f"{required_runs} are all incremental: a PASS needs at least one full "
                    "comparison among them (run with --full)", clean, tuple(ids))
    if clean >= required_runs:
        return cert(Verdict.PASS, f"{clean} consecutive clean runs with full coverage "
                                  f"(needs {required_runs})", clean, tuple(ids[:required_runs]))
    if head["status"] == "breaks":
        return cert(Verdict.FAIL, f"the latest run {head['run_id']} has breaks")
    if clean == 0:
        reason = (f"the latest run {head['run_id']} is {head['status']}"
                  + ("" if head["coverage"]["full"] else " without full coverage"))
        return cert(Verdict.INSUFFICIENT, reason)
    return cert(Verdict.INSUFFICIENT, f"{clean} of {required_runs} consecutive clean runs with "
                                      "full coverage on the current mapping", clean, tuple(ids))
