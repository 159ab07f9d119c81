"""What reconciliation leaves in the control plane: runs, their discrepancies, finance's actions.

A run is ``queued`` → ``running`` → one of ``clean | breaks | incomplete | failed``; only
the last step, after every comparison has completed, may make it ``clean``. ``checkpoint``
holds the comparisons already done so a killed run resumes where it stopped. A finished
run carries its signed manifest (see ``reconcile.manifest``). ``DiscrepancyAction`` is the
append-only audit of finance's sign-off: who, when, what, why.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

QUEUED, RUNNING = "queued", "running"
CLEAN, BREAKS, INCOMPLETE, FAILED = "clean", "breaks", "incomplete", "failed"
FINISHED = (CLEAN, BREAKS, INCOMPLETE, FAILED)
RUN_STATUSES = [(s, s) for s in (QUEUED, RUNNING, *FINISHED)]

OPEN, ACKNOWLEDGED, RESOLVED, ACCEPTED = "open", "acknowledged", "resolved", "accepted"
STATES = [(s, s) for s in (OPEN, ACKNOWLEDGED, RESOLVED, ACCEPTED)]
ACTIONS = [("acknowledge", "acknowledge"), ("resolve", "resolve"), ("accept", "accept")]


class ReconciliationRun(models.Model):
    capability = models.CharField(max_length=120, db_index=True)
    status = models.CharField(max_length=16, choices=RUN_STATUSES, default=QUEUED)
    mapping_source = models.CharField(max_length=500)
    mapping_hash = models.CharField(max_length=64, help_text="version hash of the mapping")
    requested_by = models.CharField(max_length=150)
    sequence = models.PositiveIntegerField(null=True, blank=True,
                                           help_text="position in the capability's manifest chain")
    counts = models.JSONField(default=dict, blank=True, help_text="discrepancies by category")
    checkpoint = models.JSONField(default=dict, blank=True,
                                  help_text="comparisons already completed, for resume")
    manifest = models.JSONField(null=True, blank=True)
    signature = models.CharField(max_length=64, blank=True, help_text="HMAC-SHA256 of the manifest")
    previous_hash = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [models.UniqueConstraint(
            fields=["capability", "sequence"], name="reconciliation_run_chain_position")]

    def __str__(self) -> str:
        return f"{self.capability} run {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class Discrepancy(models.Model):
    """One differing value (or one missing/duplicate/unbalanced key) found by a run."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE,
                            related_name="discrepancies")
    comparison = models.CharField(max_length=120)
    category = models.CharField(max_length=32, db_index=True)
    key = models.CharField(max_length=500)
    column = models.CharField(max_length=120, blank=True)
    legacy_value = models.TextField(null=True, blank=True)
    extracted_value = models.TextField(null=True, blank=True)
    difference = models.CharField(max_length=64, null=True, blank=True)
    pending = models.BooleanField(default=False, help_text="changed inside the lag window")
    wallet_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    day = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=OPEN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["run", "comparison", "category", "key", "column"]
        verbose_name_plural = "discrepancies"

    def __str__(self) -> str:
        return f"{self.comparison} {self.category} {self.key} {self.column}".strip()


class AppendOnlyQuerySet(models.QuerySet["DiscrepancyAction"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("discrepancy actions are an audit trail: they are never changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("discrepancy actions are an audit trail: they are never deleted")


class DiscrepancyAction(models.Model):
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="actions")
    action = models.CharField(max_length=16, choices=ACTIONS)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    actor = models.CharField(max_length=150)
    note = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering: ClassVar = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} #{self.discrepancy_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("discrepancy actions are an audit trail: they are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("discrepancy actions are an audit trail: they are never deleted")


class SegmentBaseline(models.Model):
    """The clean first-level segments one run verified or carried for one comparison.

    The next run of the capability may skip those still provably unchanged on both sides
    (``reconcile.incremental``). ``digest`` is also in the run's signed manifest, so a
    baseline edited here is refused rather than trusted.
    """

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="baselines")
    comparison = models.CharField(max_length=120)
    data = models.JSONField(help_text="reconcile.incremental.to_json of the kept segments")
    digest = models.CharField(max_length=64, help_text="sha256 of data, as in the manifest")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(
            fields=["run", "comparison"], name="reconciliation_baseline_per_step")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.comparison}: {len(self.data.get('segments', []))} segments"
