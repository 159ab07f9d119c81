"""Service layer of reconciliation runs: start, execute (resumable), sign off, certify.

``execute_run`` is safe to call any number of times for one run id, from any process:
a run already finished is returned untouched; a run another process is executing (it
holds the run's advisory lock) is left to it; otherwise the comparisons not yet in the
checkpoint are run, each one's discrepancies committed together with its checkpoint
entry, and only after all of them does the run get its status, manifest and signature.
A process killed half-way leaves a ``running`` run with a partial checkpoint; the next
``execute_run`` resumes it. No path marks a run ``clean`` before every comparison is done.

Row comparisons keep their clean segments (``SegmentBaseline``, digest in the signed
manifest) and the next run is incremental on them, unless a full run was asked for, the
``full_every`` policy wants one, or the kept segments do not match the manifest that
signed them. Certificates recompute each run's discrepancy digest from the stored rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.utils import timezone

from reconcile import balances, incremental
from reconcile import manifest as mf
from reconcile.bootstrap import check_against, run_comparison
from reconcile.check import CheckedComparison
from reconcile.errors import SideUnavailableError
from reconcile.mapping import Mapping, load_mapping
from reconcile.mappings import LEDGER
from reconcile.result import RunResult
from strangler.control.reconciliation.config import ReconcileConfig
from strangler.control.reconciliation.errors import (
    InvalidActionError,
    NotFoundError,
    UnknownCapabilityError,
)
from strangler.control.reconciliation.models import (
    ACCEPTED,
    ACKNOWLEDGED,
    BREAKS,
    CLEAN,
    FAILED,
    INCOMPLETE,
    OPEN,
    QUEUED,
    RESOLVED,
    RUNNING,
    Discrepancy,
    DiscrepancyAction,
    ReconciliationRun,
    SegmentBaseline,
)

MAPPINGS: dict[str, Path] = {"ledger": LEDGER}  # capability -> mapping shipped with the toolkit
_RUN_LOCK, _CHAIN_LOCK = 0x5EC0, 0x5EC1  # advisory lock namespaces (first key)

Progress = Callable[[int, int, str], None]  # (done, total, step just finished)


def control_db() -> str:
    return router.db_for_write(ReconciliationRun) or DEFAULT_DB_ALIAS


def steps_of(mapping: Mapping) -> list[str]:
    """Every comparison a run must complete for full coverage, in execution order."""
    return [c.name for c in mapping.comparisons] + list(balances.CHECKS)


def start_run(capability: str, *, requested_by: str, mapping_path: Path | str | None = None,
              enqueue: bool = False, full: bool = False) -> ReconciliationRun:
    """A queued run; with ``enqueue`` its task is sent once the run is committed.

    ``full``: compare every row even where an incremental run would be allowed.
    """
    path = Path(mapping_path) if mapping_path else MAPPINGS.get(capability)
    if path is None:
        raise UnknownCapabilityError(
            f"no reconciliation mapping is known for capability {capability!r} (known: "
            f"{', '.join(sorted(MAPPINGS))}). Nothing was started; pass --mapping FILE.")
    mapping = load_mapping(path)  # a broken mapping is refused here, before any run exists
    if mapping.capability != capability:
        raise UnknownCapabilityError(
            f"{path} maps capability {mapping.capability!r}, not {capability!r}. Nothing was "
            "started; name the capability the mapping declares.")
    db = control_db()
    with transaction.atomic(using=db):
        run = ReconciliationRun.objects.create(
            capability=capability, mapping_source=str(path), mapping_hash=mapping.version_hash,
            requested_by=requested_by,
            checkpoint={"done": {}, "steps": steps_of(mapping), "full": full})
        if enqueue:
            from strangler.control.reconciliation.tasks import run_reconciliation

            # What Task.delay_on_commit does, on the control database's transaction (in
            # one-settings-module deployments "default" is the monolith's).
            transaction.on_commit(partial(run_reconciliation.delay, run.pk), using=db)
    return run


@contextmanager
def _run_lock(run_id: int) -> Iterator[bool]:
    """Session advisory lock on the run: released on exit, or by the server if we die."""
    with connections[control_db()].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_RUN_LOCK, run_id])
        locked = bool(cursor.fetchone()[0])
        try:
            yield locked
        finally:
            if locked:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_RUN_LOCK, run_id])


def get_run(run_id: int) -> ReconciliationRun:
    try:
        return ReconciliationRun.objects.get(pk=run_id)
    except ReconciliationRun.DoesNotExist as exc:
        raise NotFoundError(f"no reconciliation run {run_id}; `strangler reconcile runs` "
                            "lists them") from exc


def execute_run(run_id: int, *, legacy_url: str | None = None, extracted_url: str | None = None,
                progress: Progress | None = None,
                config: ReconcileConfig | None = None) -> ReconciliationRun:
    """Run (or resume) ``run_id`` to a finished status; idempotent. See the module docstring."""
    config = config or ReconcileConfig.from_environ()
    with _run_lock(run_id) as locked:
        run = get_run(run_id)
        if run.finished or not locked:
            return run
        try:
            _execute(run, legacy_url or config.legacy_url,
                     extracted_url if extracted_url is not None else config.extracted_url,
                     progress, config)
        except Exception as exc:
            _finish(run, FAILED, config, error=f"{type(exc).__name__}: {exc}")
            raise
        return run


def _execute(run: ReconciliationRun, legacy_url: str, extracted_url: str | None,
             progress: Progress | None, config: ReconcileConfig) -> None:
    mapping = load_mapping(run.mapping_source)
    run.status, run.attempts = RUNNING, run.attempts + 1
    run.started_at = run.started_at or timezone.now()
    run.save(update_fields=["status", "attempts", "started_at"])
    if mapping.version_hash != run.mapping_hash:
        _finish(run, INCOMPLETE, config, error=(
            f"the mapping {run.mapping_source} changed since the run was queued (version "
            f"{run.mapping_hash[:12]} -> {mapping.version_hash[:12]}); start a new run"))
        return
    steps = steps_of(mapping)
    done: dict[str, Any] = run.checkpoint.setdefault("done", {})
    todo = [s for s in steps if s not in done]
    if progress:
        progress(len(steps) - len(todo), len(steps), "")
    for result in _results(mapping, todo, legacy_url, extracted_url, run, config):
        _record(run, result)
        if progress:
            progress(len(run.checkpoint["done"]), len(steps), result.comparison)
        _hold(config)
    entries = [run.checkpoint["done"][s] for s in steps]
    status = INCOMPLETE if any(not e["complete"] for e in entries) else (
        BREAKS if any(e["breaks"] for e in entries) else CLEAN)
    _finish(run, status, config)


def _results(mapping: Mapping, todo: Sequence[str], legacy_url: str, extracted_url: str | None,
             run: ReconciliationRun, config: ReconcileConfig) -> Iterator[RunResult]:
    """One result per step, lazily, so each is checkpointed before the next starts."""
    def unreadable(name: str, reason: str) -> RunResult:
        result = RunResult(run.capability, name, run.mapping_source, run.mapping_hash,
                           timezone.now(), timezone.now())
        result.incomplete_reasons.append(reason)
        return result

    checked: dict[str, CheckedComparison] | None = None
    problem: str | None = None
    if extracted_url is None:
        problem = ("no extracted database is configured: set STRANGLER_RECONCILE_EXTRACTED_URL "
                   "or pass --extracted-url")
    for name in todo:
        if problem:
            yield unreadable(name, problem)
        elif name in balances.CHECKS:
            assert extracted_url is not None
            yield from balances.check_balances(
                legacy_url, extracted_url, capability=run.capability,
                mapping_source=run.mapping_source, mapping_hash=run.mapping_hash, only=[name])
        else:
            assert extracted_url is not None
            if checked is None:
                try:
                    checked = {c.comparison.name: c
                               for c in check_against(mapping, legacy_url, extracted_url)}
                except SideUnavailableError as exc:
                    problem = str(exc)
                    yield unreadable(name, problem)
                    continue
            baseline, why = baseline_for(run, name, config)
            result = run_comparison(checked[name], legacy_url, extracted_url, baseline=baseline,
                                    keep=True, label=str(run.pk))
            if baseline is None and why:
                result.coverage.reason = why
            yield result


def baseline_for(run: ReconciliationRun, comparison: str,
                 config: ReconcileConfig) -> tuple[incremental.Baseline | None, str]:
    """The kept segments ``run`` may rest on for ``comparison``, or None and why not."""
    if run.checkpoint.get("full"):
        return None, "a full run was requested"
    earlier = (ReconciliationRun.objects.filter(capability=run.capability,
                                                sequence__isnull=False)
               .exclude(pk=run.pk).order_by("-sequence"))
    kept = (SegmentBaseline.objects.filter(run__capability=run.capability, comparison=comparison,
                                           run__sequence__isnull=False)
            .select_related("run").order_by("-run__sequence").first())
    if kept is None:
        return None, "no earlier clean segments"
    window = config.full_interval - 1
    recent = [r.manifest or {} for r in earlier[:window]] if window > 0 else []
    if not any(_mode_of(m, comparison) == incremental.FULL for m in recent):
        return None, (f"one run in every {config.full_interval} compares every row "
                      "(STRANGLER_RECONCILE_FULL_EVERY)")
    source = kept.run
    entry: dict[str, Any] = next((c for c in (source.manifest or {}).get("comparisons", [])
                  if c.get("name") == comparison), {})
    signed = source.manifest is not None and mf.sign(source.manifest, config.signing_key) == \
        source.signature
    recorded = entry.get("coverage", {}).get("kept_segments")
    if not signed or recorded != kept.digest or incremental.digest(kept.data) != kept.digest:
        return None, (f"the segments kept by run {source.pk} do not match its signed manifest; "
                      "they were not trusted")
    return incremental.from_json(kept.data, basis=str(source.pk)), ""


def _mode_of(manifest: dict[str, Any], comparison: str) -> str | None:
    for entry in manifest.get("comparisons", []):
        if entry.get("name") == comparison:
            return str(entry.get("coverage", {}).get("mode", incremental.FULL))
    return None


def _record(run: ReconciliationRun, result: RunResult) -> None:
    """A step's discrepancies, kept segments and checkpoint entry, in one transaction."""
    with transaction.atomic(using=control_db()):
        # A step is recorded once; should an earlier attempt have committed rows without its
        # checkpoint (it cannot, but this is cheap), they are replaced, not doubled.
        Discrepancy.objects.filter(run=run, comparison=result.comparison).delete()
        Discrepancy.objects.bulk_create(discrepancy_rows(run, result), batch_size=1000)
        SegmentBaseline.objects.filter(run=run, comparison=result.comparison).delete()
        digest = None
        if result.baseline is not None:
            data = incremental.to_json(result.baseline)
            digest = incremental.digest(data)
            SegmentBaseline.objects.create(run=run, comparison=result.comparison, data=data,
                                           digest=digest)
        run.checkpoint["done"][result.comparison] = mf.comparison_entry(result, digest)
        run.save(update_fields=["checkpoint"])


def discrepancy_rows(run: ReconciliationRun, result: RunResult) -> list[Discrepancy]:
    rows = []
    per_wallet = result.comparison in (balances.BALANCES, balances.WALLET_BALANCES)
    for d in result.discrepancies:
        wallet = int(d.key[0]) if per_wallet else None
        day = date.fromisoformat(str(d.key[2])) if result.comparison == balances.BALANCES else None
        for column in d.columns or (None,):
            rows.append(Discrepancy(
                run=run, comparison=result.comparison, category=d.category,
                key="|".join(str(k) for k in d.key), pending=d.pending, wallet_id=wallet, day=day,
                column=column.column if column else "",
                legacy_value=column.legacy if column else str(d.legacy_count),
                extracted_value=column.extracted if column else str(d.extracted_count),
                difference=column.difference if column else None))
    return rows


def _hold(config: ReconcileConfig) -> None:
    """Test seam: lets a test kill the worker at a known point, between two checkpoints."""
    while config.hold_file and Path(config.hold_file).exists():
        time.sleep(0.05)


def _finish(run: ReconciliationRun, status: str, config: ReconcileConfig, error: str = "") -> None:
    """Status, counts and the signed manifest chained to the capability's previous run."""
    db = control_db()
    with transaction.atomic(using=db):
        with connections[db].cursor() as cursor:  # one chain writer per capability at a time
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                           [_CHAIN_LOCK, run.capability])
        previous = (ReconciliationRun.objects.filter(capability=run.capability,
                                                     sequence__isnull=False)
                    .order_by("-sequence").first())
        done = run.checkpoint.get("done", {})
        counts: dict[str, int] = {}
        for entry in done.values():
            for category, n in entry.get("by_category", {}).items():
                counts[category] = counts.get(category, 0) + n
        run.status, run.error, run.counts = status, error, dict(sorted(counts.items()))
        run.finished_at = timezone.now()
        run.sequence = previous.sequence + 1 if previous and previous.sequence else 1
        run.previous_hash = mf.manifest_hash(previous.manifest) if previous and previous.manifest \
            else mf.GENESIS
        run.manifest = mf.build_manifest(
            run_id=run.pk, capability=run.capability, sequence=run.sequence, status=status,
            mapping_source=run.mapping_source, mapping_hash=run.mapping_hash,
            started_at=(run.started_at or run.finished_at).isoformat(),
            finished_at=run.finished_at.isoformat(), comparisons=list(done.values()),
            expected=run.checkpoint.get("steps", list(done)), previous_hash=run.previous_hash,
            discrepancies=mf.discrepancy_digest(
                Discrepancy.objects.filter(run=run).values_list(*DIGESTED).iterator()))
        run.signature = mf.sign(run.manifest, config.signing_key)
        run.save()


def resumable_runs() -> list[int]:
    """Unfinished runs nobody is executing (their executor died or their message was lost)."""
    found = []
    for run_id in ReconciliationRun.objects.filter(status__in=(QUEUED, RUNNING)).values_list(
            "pk", flat=True):
        with _run_lock(run_id) as free:
            if free:
                found.append(run_id)
    return found


# -- certificate ---------------------------------------------------------------------------
# What a manifest's discrepancy digest covers, in this order (see mf.discrepancy_digest).
DIGESTED = ("comparison", "category", "key", "column", "legacy_value", "extracted_value",
            "difference", "pending")


def chain(capability: str) -> list[mf.SignedManifest]:
    runs = ReconciliationRun.objects.filter(capability=capability, sequence__isnull=False)
    return [mf.SignedManifest(r.manifest or {}, r.signature) for r in runs.order_by("sequence")]


def stored_digests(capability: str) -> dict[int, dict[str, Any]]:
    """Per chained run, the digest of its discrepancy rows as they are stored now."""
    rows: dict[int, list[tuple[Any, ...]]] = {}
    runs = ReconciliationRun.objects.filter(capability=capability, sequence__isnull=False)
    for run_id, *row in Discrepancy.objects.filter(run__in=runs).values_list(
            "run_id", *DIGESTED).iterator():
        rows.setdefault(int(run_id), []).append(tuple(row))
    return {run_id: mf.discrepancy_digest(found) for run_id, found in rows.items()}


def verify(capability: str, config: ReconcileConfig | None = None) -> list[str]:
    """Everything wrong with the capability's signed history; empty when it is intact."""
    config = config or ReconcileConfig.from_environ()
    return mf.verify_chain(chain(capability), config.signing_key, stored_digests(capability))


def certificate(capability: str, required_runs: int | None = None,
                config: ReconcileConfig | None = None) -> mf.Certificate:
    config = config or ReconcileConfig.from_environ()
    return mf.evaluate_certificate(capability, chain(capability), config.signing_key,
                                   required_runs or config.certificate_runs,
                                   stored_digests(capability))


# -- finance sign-off ----------------------------------------------------------------------
TRANSITIONS = {  # action: (states it may start from, state it leads to)
    "acknowledge": ((OPEN,), ACKNOWLEDGED),
    "resolve": ((ACKNOWLEDGED,), RESOLVED),
    "accept": ((ACKNOWLEDGED,), ACCEPTED),
}


def act(discrepancy_id: int, action: str, *, actor: str, note: str) -> Discrepancy:
    """Apply a sign-off action and audit it (who, when, why); refuses a forbidden one."""
    if action not in TRANSITIONS:
        raise InvalidActionError(f"unknown action {action!r}; use one of {', '.join(TRANSITIONS)}")
    if not note.strip():
        raise InvalidActionError(f"{action} needs a note saying why. Nothing was changed.")
    sources, target = TRANSITIONS[action]
    with transaction.atomic(using=control_db()):
        try:
            discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy_id)
        except Discrepancy.DoesNotExist as exc:
            raise NotFoundError(f"no discrepancy {discrepancy_id}. Nothing was changed.") from exc
        if discrepancy.state not in sources:
            raise InvalidActionError(
                f"discrepancy {discrepancy_id} is {discrepancy.state}; {action} needs it "
                f"{' or '.join(sources)}. Nothing was changed"
                + ("; acknowledge it first." if discrepancy.state == OPEN else "."))
        DiscrepancyAction.objects.create(discrepancy=discrepancy, action=action,
                                         from_state=discrepancy.state, to_state=target,
                                         actor=actor, note=note.strip())
        discrepancy.state = target
        discrepancy.save(update_fields=["state", "updated_at"])
    return discrepancy


def acknowledge(discrepancy_id: int, *, actor: str, note: str) -> Discrepancy:
    return act(discrepancy_id, "acknowledge", actor=actor, note=note)


def resolve(discrepancy_id: int, *, actor: str, note: str) -> Discrepancy:
    return act(discrepancy_id, "resolve", actor=actor, note=note)


def accept(discrepancy_id: int, *, actor: str, note: str) -> Discrepancy:
    return act(discrepancy_id, "accept", actor=actor, note=note)
