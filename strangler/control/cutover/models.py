"""What the cutover plans keep in the control database.

``Plan``: one row per capability — its state in ``migrations.plan``'s machine and, while a
transition runs, ``in_progress`` (which transition, the index of the first action not yet
done): that is what lets an interrupted step resume or roll back after a restart.
``PlanTransition``: the log of every attempt (done, refused, rolled back), pointing at
the audit entry written for it. ``RouteTraffic``: per-route hits per minute, flushed by
proxies with their heartbeat (raw SQL from the data plane, hence the table name).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

STATES = [(s, s) for s in ("planned", "backfilled", "shadow", "canary", "extracted",
                           "decommissioned")]
OUTCOMES = [(s, s) for s in ("running", "done", "refused", "checks_pending", "rolled_back")]


class Plan(models.Model):
    objects: ClassVar[models.Manager[Plan]] = models.Manager()
    capability = models.CharField(max_length=120, unique=True, help_text="route capability")
    data_capability = models.CharField(max_length=120, blank=True,
                                       help_text="what is backfilled and reconciled (e.g. ledger)")
    state = models.CharField(max_length=16, choices=STATES, default="planned")
    step = models.PositiveSmallIntegerField(default=0, help_text="canary step index")
    percent = models.CharField(max_length=8, blank=True, help_text="canary share while in canary")
    in_progress = models.JSONField(null=True, blank=True,
                                   help_text='{"kind", "target", "percent", "next_action", ...}')
    ports = models.JSONField(default=dict, blank=True,
                             help_text="the monolith's internal ports: name -> monolith|extracted")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "strangler_cutover_plan"
        ordering: ClassVar = ["capability"]

    def __str__(self) -> str:
        return f"{self.capability}: {self.state}"


class PlanTransition(models.Model):
    objects: ClassVar[models.Manager[PlanTransition]] = models.Manager()
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="transitions")
    kind = models.CharField(max_length=16)  # advance | rollback
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    percent = models.CharField(max_length=8, blank=True)
    outcome = models.CharField(max_length=16, choices=OUTCOMES, default="running")
    actions = models.JSONField(default=list, help_text="the actions, in order")
    actions_done = models.PositiveSmallIntegerField(default=0)
    missing = models.JSONField(default=list, help_text="evidence or checks that did not hold")
    evidence = models.JSONField(default=dict)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    audit_id = models.BigIntegerField(null=True, blank=True, help_text="strangler_audit_entry id")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strangler_cutover_transition"
        ordering: ClassVar = ["-id"]

    def __str__(self) -> str:
        return f"{self.plan.capability} {self.from_state} → {self.to_state} ({self.outcome})"


class RouteTraffic(models.Model):
    objects: ClassVar[models.Manager[RouteTraffic]] = models.Manager()
    minute = models.DateTimeField()
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    hits = models.BigIntegerField()
    # of ``hits``, those the routing decision sent to the monolith (a proxy that predates the
    # column writes nothing here: the database default keeps its inserts working)
    monolith_hits = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        db_table = "strangler_route_traffic"
        constraints = [models.UniqueConstraint(fields=["minute", "method", "path"],
                                               name="strangler_route_traffic_minute")]
        indexes = [models.Index(fields=["method", "path", "-minute"], name="route_traffic_recent")]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.method} {self.path}: {self.hits}"
