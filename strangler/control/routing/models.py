"""The control plane's routing state: what the proxies serve, who changed it, who may.

``Capability``/``RouteRule``/``GlobalSwitch`` are the editable state; every change is
published as an immutable ``RouteTableVersion`` (a JSON snapshot proxies turn into a
``routing_proxy.routes.RouteTable``). ``ProxyInstance`` rows are written by proxies
(raw SQL; the data plane does not import Django), hence the explicit table names.
``AuditEntry`` is append-only at three levels: the model, its queryset, and a
database trigger (see migration 0002).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.db import models

from strangler.control.routing.errors import AppendOnlyError

MODES = [("monolith", "monolith"), ("shadow", "shadow"), ("canary", "canary"),
         ("extracted", "extracted")]


class Capability(models.Model):
    """A named set of routes cut over as one unit."""

    name = models.CharField(max_length=120, unique=True)
    mode = models.CharField(max_length=16, choices=MODES, default="monolith")
    canary_basis_points = models.PositiveIntegerField(default=0, help_text="canary share; 100 = 1 %")
    sticky_key = models.JSONField(null=True, blank=True,
                                  help_text='{"kind": "api_key", "source": "header", "name": "..."}')
    upstream = models.CharField(max_length=64, default="extracted")
    fallback = models.BooleanField(default=True)
    killed = models.BooleanField(default=False, help_text="per-capability kill switch to the monolith")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name"]
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.name

    @property
    def percent(self) -> str:
        return f"{self.canary_basis_points / 100:.2f}"


class RouteRule(models.Model):
    capability = models.ForeignKey(Capability, on_delete=models.CASCADE, related_name="rules")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    host = models.CharField(max_length=255, null=True, blank=True)
    header_name = models.CharField(max_length=100, null=True, blank=True)
    header_value = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=32, default="manual", help_text="urlconf | manual")
    upstream_path = models.CharField(
        max_length=500, null=True, blank=True,
        help_text="a compatibility shim: the path the extracted upstream serves this route under, "
                  "with the route's own {params}, e.g. /v2/accounts/{wallet_id}/balance; "
                  "empty: the legacy path")

    class Meta:
        ordering: ClassVar = ["path", "method"]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def shim(self) -> str:
        """``GET /api/v1/x/{id}/ → /v2/x/{id}`` for a shim; the route alone otherwise."""
        return f"{self} → {self.upstream_path}" if self.upstream_path else str(self)


class GlobalSwitch(models.Model):
    """The single row (id 1) holding the global kill switch."""

    kill_switch = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"global kill switch {'ON' if self.kill_switch else 'off'}"


class RouteTableVersion(models.Model):
    version = models.PositiveBigIntegerField(unique=True)
    snapshot = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150)
    reason = models.TextField()

    class Meta:
        db_table = "strangler_route_table_version"
        ordering: ClassVar = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"


class ProxyInstance(models.Model):
    instance_id = models.CharField(max_length=200, primary_key=True)
    host = models.CharField(max_length=255)
    port = models.IntegerField()
    version = models.BigIntegerField(help_text="route table version it serves")
    applied_at = models.DateTimeField(help_text="when it applied that version")
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField()

    class Meta:
        db_table = "strangler_proxy_instance"
        ordering: ClassVar = ["instance_id"]

    def __str__(self) -> str:
        return self.instance_id


class AppendOnlyQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the audit log is append-only: entries cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")


class AuditEntry(models.Model):
    """One change of routing state: who, when, why, from what to what, and the gate evidence."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150, help_text="operator or token name (text, not a FK)")
    action = models.CharField(max_length=32)  # flip | rollback | kill | unkill | import
    capability = models.CharField(max_length=120, blank=True)  # "" for global actions
    from_mode = models.CharField(max_length=32, blank=True)
    to_mode = models.CharField(max_length=32, blank=True)
    from_basis_points = models.PositiveIntegerField(default=0)
    to_basis_points = models.PositiveIntegerField(default=0)
    version = models.PositiveBigIntegerField()
    reason = models.TextField()
    evidence = models.JSONField(default=dict)
    forced = models.BooleanField(default=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "strangler_audit_entry"
        ordering: ClassVar = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"v{self.version} {self.action} {self.capability} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("the audit log is append-only: an existing entry cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")


PERMISSIONS = ("read", "flip", "force")


class ApiToken(models.Model):
    """A bearer token for the API; only its SHA-256 is stored. No FK to users: works in any database."""

    name = models.CharField(max_length=100, unique=True)
    token_sha256 = models.CharField(max_length=64, unique=True)
    permissions = models.JSONField(default=list, help_text='subset of ["read", "flip", "force"]')
    created_at = models.DateTimeField(auto_now_add=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def digest(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, permissions: list[str], using: str | None = None) -> tuple[ApiToken, str]:
        """Create a token; the raw value is returned once and never stored."""
        raw = "stc_" + secrets.token_urlsafe(32)
        token = cls(name=name, token_sha256=cls.digest(raw), permissions=sorted(set(permissions)))
        token.save(using=using)
        return token, raw

    def allows(self, permission: str) -> bool:
        return not self.revoked and permission in self.permissions
