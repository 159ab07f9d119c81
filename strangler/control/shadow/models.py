"""Shadow results in the control plane's database: observations, difference groups and their samples.

Everything stored is redacted first (``shadow.redact``). ``DiffGroup`` counts
requests per capability x path x kind; each keeps at most ``MAX_SAMPLES`` samples.
"""

from __future__ import annotations

from django.db import models

MAX_SAMPLES = 5


class ShadowObservation(models.Model):
    capability = models.CharField(max_length=200)
    request_id = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    observed_at = models.DateTimeField()
    outcome = models.CharField(max_length=32)
    primary_status = models.IntegerField()
    candidate_status = models.IntegerField(null=True)
    primary_latency_ms = models.FloatField(null=True)
    candidate_latency_ms = models.FloatField(null=True)
    effects = models.CharField(max_length=16, default="n/a")
    flags = models.JSONField(default=list)
    differences = models.JSONField(default=list)  # redacted {path, kind, primary, candidate, note}
    cancelled = models.JSONField(default=list)
    accepted = models.JSONField(default=list)
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["capability", "observed_at"]), models.Index(fields=["observed_at"])]

    def __str__(self) -> str:
        return f"{self.capability} {self.method} {self.path} {self.outcome}"


class DiffGroup(models.Model):
    capability = models.CharField(max_length=200)
    path = models.CharField(max_length=1000)
    kind = models.CharField(max_length=32)
    count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["capability", "path", "kind"], name="shadow_group_key")
        ]

    def __str__(self) -> str:
        return f"{self.capability} {self.path} {self.kind} x{self.count}"


class DiffSample(models.Model):
    group = models.ForeignKey(DiffGroup, on_delete=models.CASCADE, related_name="samples")
    request_id = models.CharField(max_length=200)
    observed_at = models.DateTimeField()
    sample = models.JSONField()

    def __str__(self) -> str:
        return f"{self.group} {self.request_id}"
