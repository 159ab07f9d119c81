"""The comparator of a live proxy instance: built from the proxy's options, storing in the control plane.

A proxy following the control plane compares shadow copies by default: this builds
the ``ComparatorProcess`` it hands to the data plane as its ShadowSink. The worker
process writes observations to the control plane's PostgreSQL (the database the
proxy already follows); the candidate is the proxy's extracted upstream unless a
capability's rules name another (``candidate = "http://..."``); with
``effects_database_url`` (the monolith's database) shadowed writes are checked
against the events the monolith actually published. Rules are parsed here, in the
proxy's process, so a broken rules file stops the proxy at start with file and line.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from shadow.rules import RuleSet, parse_rules_file
from shadow.side_effects import OutboxEffects
from shadow.sink import SinkConfig
from shadow.store import ObservationStore
from shadow.worker import ComparatorProcess, WorkerSpec


@dataclass(frozen=True)
class ComparatorOptions:
    candidate_url: str  # default candidate: the proxy's extracted upstream
    database_url: str  # the control plane's database: where observations are stored
    rules_path: str | Path | None = None
    secondary_url: str | None = None  # a second monolith instance, for noise cancellation
    effects_database_url: str | None = None  # the monolith's database (its ACL outbox)
    shadow_token: str = "1"  # noqa: S105 - not a secret by default; candidates may require one
    max_queued_bytes: int = 4 << 20  # waiting for the pipe to the worker; a copy beyond is dropped
    max_in_flight: int = 64


def control_plane_store(database_url: str) -> ObservationStore:
    """The control plane's observation store; runs in the worker process (Django set up there)."""
    os.environ["STRANGLER_CONTROL_DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "strangler.control.settings"
    import django

    django.setup()
    from strangler.control.shadow.store import DjangoObservationStore

    return DjangoObservationStore()


def build_comparator(options: ComparatorOptions) -> ComparatorProcess:
    """A comparator (not started: it starts on the first shadow copy); raises RulesFileError."""
    rules = parse_rules_file(options.rules_path) if options.rules_path else RuleSet()
    config = SinkConfig(options.candidate_url, options.secondary_url, options.shadow_token,
                        options.max_in_flight)
    effects = OutboxEffects(options.effects_database_url) if options.effects_database_url else None
    spec = WorkerSpec(config, rules, functools.partial(control_plane_store, options.database_url),
                      primary_effects=effects)
    return ComparatorProcess(spec, max_queued_bytes=options.max_queued_bytes)
