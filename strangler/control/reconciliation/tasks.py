"""Celery tasks of reconciliation: thin, ids only, idempotent, acks_late.

``run_reconciliation(run_id)`` may be delivered twice, or again after its worker died:
``services.execute_run`` returns a finished run untouched, leaves a run another worker
holds alone, and resumes a half-done one from its checkpoint.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from strangler.control.celery_app import app
from strangler.control.reconciliation import services


@app.task(name="reconciliation.run", acks_late=True, reject_on_worker_lost=True)
def run_reconciliation(run_id: int) -> str:
    return services.execute_run(run_id).status


@app.task(name="reconciliation.nightly", acks_late=True)
def nightly_reconciliation(capability: str) -> int:
    """Beat: queue tonight's run and its execution. A duplicate beat tick queues a second run,
    which is harmless (its own chain position), never a corrupted one."""
    return services.start_run(capability, requested_by="celery-beat", enqueue=True).pk


@app.task(name="reconciliation.resume", acks_late=True)
def resume_stale_runs() -> list[int]:
    """Re-enqueue every unfinished run nobody is executing (lost message, killed worker)."""
    run_ids = services.resumable_runs()
    for run_id in run_ids:
        transaction.on_commit(partial(run_reconciliation.delay, run_id), using=services.control_db())
    return run_ids
