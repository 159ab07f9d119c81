"""Backfill: the initial load of a capability's history into its extracted service's database.

    rows       legacy row images -> ledger effects, through the ACL translators and the
               ledger's own ``decide`` (pure; the same translation live events get)
    throttle   the pause policy that keeps the monolith's latency within a bound (pure) and
               the probe that measures it
    runner     chunked by key range, COPY into staging, idempotent merge, checkpoint in the
               extracted database, hand-over mark on the ACL outbox, progress
"""

from migrations.backfill.runner import BackfillOptions, BackfillReport, Checkpoint, run_backfill

__all__ = ["BackfillOptions", "BackfillReport", "Checkpoint", "run_backfill"]
