"""Reconciliation runs in the control plane: results, finance sign-off, manifests, certificate.

    models     ReconciliationRun, Discrepancy, DiscrepancyAction (append-only audit)
    services   start_run, execute_run (resumable), acknowledge/resolve/accept, certificate
    evidence   the routing gate's reconciliation provider (parity certificate)
    tasks      Celery tasks (thin, ids only, idempotent, acks_late); beat in celery_app
"""
