"""Dry run of shadowed writes inside an extracted service (Django middleware and view decorator).

A request carrying ``X-Strangler-Shadow`` (only the proxy can send it: it strips
every client ``X-Strangler-*`` header; ``SHADOW_TOKEN`` in the
``STRANGLER_SHADOW`` setting adds a shared secret) runs inside one transaction
per database that is always rolled back. Outbound effects are suppressed while
it runs: Celery ``apply_async``, ``urllib.request.urlopen`` and ``httpx`` sends,
and any hook registered with ``register_suppressor``; each attempt is recorded.
Before the rollback, the rows the request wrote are read back from the
anti-corruption-layer outbox of the same transaction and translated into the
domain events they would have published. The answer carries them in
``X-Strangler-Side-Effects`` (``shadow.side_effects.encode_header``).

Install once at startup: ``install_suppressors()`` (idempotent); add
``shadow.dryrun.DryRunMiddleware`` right after ``acl.django.CorrelationMiddleware``.
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import json
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from shadow.side_effects import HEADER, Effect, effects_from_rows, encode_header

SHADOW_META = "HTTP_X_STRANGLER_SHADOW"
_recording: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "strangler_shadow_dry_run", default=None)
_published: contextvars.ContextVar[list[Effect] | None] = contextvars.ContextVar(
    "strangler_shadow_dry_run_events", default=None)
_installed: set[str] = set()


class SuppressedEffect(Exception):
    """Raised to code that tried an outbound call during a dry run when no stand-in value exists."""


def in_dry_run() -> bool:
    """True while a shadowed request runs; code with effects of its own can check it."""
    return _recording.get() is not None


def record(kind: str, detail: dict[str, Any]) -> None:
    found = _recording.get()
    if found is not None:
        found.append({"kind": kind, **detail})


def would_publish(effect: Effect) -> None:
    """A service with no anti-corruption-layer outbox names a domain event its write publishes.

    During a dry run it joins the would-be events of the answer; otherwise it is ignored.
    """
    found = _published.get()
    if found is not None:
        found.append(effect)


def register_suppressor(name: str, owner: Any, attribute: str,
                        stand_in: Callable[..., Any] | None = None) -> None:
    """Wrap ``owner.attribute`` so that during a dry run it records the call instead of making it."""
    if name in _installed:
        return
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not in_dry_run():
            return original(*args, **kwargs)
        record(name, {"args": repr(args[1:] if args else ())[:200]})
        if stand_in is None:
            raise SuppressedEffect(f"{name} suppressed during a shadow dry run")
        return stand_in(*args, **kwargs)

    setattr(owner, attribute, guarded)
    _installed.add(name)


def install_suppressors() -> None:
    """The built-in hooks: Celery tasks, urllib and httpx HTTP calls (idempotent)."""
    import urllib.request

    register_suppressor("http.urllib", urllib.request, "urlopen")
    try:
        import httpx

        register_suppressor("http.httpx", httpx.Client, "send")
        register_suppressor("http.httpx_async", httpx.AsyncClient, "send")
    except ImportError:  # pragma: no cover - httpx is a dependency, but services may not use it
        pass
    try:
        from celery.app.task import Task

        register_suppressor("celery.task", Task, "apply_async", stand_in=lambda *a, **k: None)
    except ImportError:  # pragma: no cover
        pass


_OUTBOX_OF_THIS_TX = ("SELECT id, table_name, op, before, after, context, correlation_id, captured_at"
                      " FROM strangler_acl.outbox WHERE txid = pg_current_xact_id() ORDER BY id")


def _would_be_effects(using: str) -> tuple[list[Effect], list[dict[str, Any]]]:
    from django.db import DatabaseError, connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return [], []
    try:
        with connection.cursor() as cursor:
            cursor.execute(_OUTBOX_OF_THIS_TX)
            rows = cursor.fetchall()
    except DatabaseError:  # no anti-corruption layer installed in this database
        return [], []
    # Django's cursor hands jsonb back as text (it parses JSON only in JSONField); the
    # translators want the documents
    rows = [(r[0], r[1], r[2], _document(r[3]), _document(r[4]), _document(r[5]), r[6], r[7]) for r in rows]
    written = [{"table": r[1], "op": r[2], "key": (r[4] or r[3] or {}).get("id")} for r in rows]
    return effects_from_rows(rows), written


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _authorised(request: Any) -> bool:
    from django.conf import settings

    token = getattr(settings, "STRANGLER_SHADOW", {}).get("SHADOW_TOKEN")
    sent = request.META.get(SHADOW_META, "")
    return token is None or hmac.compare_digest(str(token), sent)


def dry_run(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run ``view`` as a dry run when the request is a shadow copy; else unchanged."""

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        if SHADOW_META not in request.META or in_dry_run():  # not a copy, or the middleware runs it
            return view(request, *args, **kwargs)
        return _run_dry(request, lambda: view(request, *args, **kwargs))

    return wrapper


def _run_dry(request: Any, call: Callable[[], Any]) -> Any:
    from django.db import connections, transaction
    from django.http import JsonResponse

    if not _authorised(request):
        return JsonResponse({"status": "error", "error_code": "SHADOW_FORBIDDEN", "errors": {},
                             "message": "Shadow copies need the proxy's shadow token."}, status=403)
    suppressed: list[dict[str, Any]] = []
    token = _recording.set(suppressed)
    published: list[Effect] = []
    published_token = _published.set(published)
    effects: list[Effect] = []
    written: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(transaction.atomic(using=alias))
            try:
                response = call()
                if hasattr(response, "render") and callable(response.render):
                    response = response.render()  # a lazy body must be built before the rollback
                for alias in connections:
                    found, rows = _would_be_effects(alias)
                    effects += found
                    written += rows
                effects += published
            finally:
                for alias in connections:
                    transaction.set_rollback(True, using=alias)
    finally:
        _recording.reset(token)
        _published.reset(published_token)
    response[HEADER] = encode_header(effects, [*written, *suppressed])
    return response


class DryRunMiddleware:
    """Every shadow copy (``X-Strangler-Shadow``) runs as a dry run; other requests are untouched."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        install_suppressors()

    def __call__(self, request: Any) -> Any:
        if SHADOW_META not in request.META or in_dry_run():  # installed twice: the outer one runs it
            return self.get_response(request)
        return _run_dry(request, lambda: self.get_response(request))
