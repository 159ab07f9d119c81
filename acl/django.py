"""Carry the request's correlation id into the database session, so capture triggers can record it.

``CorrelationMiddleware`` goes right after ``RequestIdMiddleware`` in MIDDLEWARE.
It sets the session settings ``strangler.correlation_id`` (and ``strangler.traceparent``
when the caller sent a W3C ``traceparent``) on each database connection the
request uses, and clears them when the response is done, so a pooled or
persistent connection never lends one request's id to the next. Session-level
(not ``SET LOCAL``) because the monolith runs in autocommit: each ORM write is
its own transaction. ``connection_created`` covers connections opened lazily
mid-request. Celery tasks get the same through ``install_celery_hooks``.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse

_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_current: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "strangler_acl_correlation", default=None
)
_SET = (
    "SELECT set_config('strangler.correlation_id', %s, false), set_config('strangler.traceparent', %s, false)"
)


def _captured_aliases() -> tuple[str, ...]:
    """Database aliases holding captured tables: only the monolith's (``default``) unless set.

    Other aliases (a control plane or service database in the same process) have no
    capture triggers and may even be off-limits to the request, so they are left alone.
    """
    from django.conf import settings

    return tuple(getattr(settings, "STRANGLER_ACL_DATABASE_ALIASES", ("default",)))


def _apply(connection: BaseDatabaseWrapper, correlation_id: str, traceparent: str) -> None:
    if connection.vendor != "postgresql" or connection.alias not in _captured_aliases():
        return
    with connection.cursor() as cursor:
        cursor.execute(_SET, [correlation_id, traceparent])


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    current = _current.get()
    if current is not None:
        _apply(connection, *current)


connection_created.connect(_on_connection_created, dispatch_uid="strangler_acl_correlation")


@contextmanager
def correlation(correlation_id: str, traceparent: str | None = None) -> Iterator[None]:
    """Every database write inside the block is captured with this correlation id."""
    trace = traceparent if traceparent and _TRACEPARENT.match(traceparent) else ""
    token = _current.set((correlation_id, trace))
    try:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None:
                _apply(conn, correlation_id, trace)
        yield
    finally:
        _current.reset(token)
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and conn.is_usable():
                _apply(conn, "", "")


class CorrelationMiddleware:
    """Put ``request.request_id`` (set by RequestIdMiddleware) on the DB session for the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = getattr(request, "request_id", None)
        if not request_id:
            return self.get_response(request)
        with correlation(request_id, request.headers.get("traceparent")):
            return self.get_response(request)


def install_celery_hooks(app: Any) -> None:
    """Tasks run with their Celery task id (or the ``correlation_id`` header they were sent with)."""
    from celery.signals import task_postrun, task_prerun

    active: dict[str, Any] = {}

    def started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
        request = getattr(task, "request", None)
        cid = getattr(request, "correlation_id", None) or task_id or ""
        manager = correlation(str(cid))
        manager.__enter__()
        active[str(task_id)] = manager

    def finished(task_id: str | None = None, **kwargs: Any) -> None:
        manager = active.pop(str(task_id), None)
        if manager is not None:
            manager.__exit__(None, None, None)

    task_prerun.connect(started, weak=False, dispatch_uid="strangler_acl_task_prerun")
    task_postrun.connect(finished, weak=False, dispatch_uid="strangler_acl_task_postrun")
