"""Database router: control-plane apps live in the ``control`` database, and only they do.

Used where one settings module holds both the monolith and the control plane (the
test settings). An app belongs to the control plane when its module is under
``strangler.control.``, so apps added later (shadow results, reconciliation runs)
need no change here.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model

CONTROL_DB = "control"
CONTROL_PACKAGE = "strangler.control."


def is_control_app(app_label: str) -> bool:
    try:
        return apps.get_app_config(app_label).name.startswith(CONTROL_PACKAGE)
    except LookupError:
        return False


class ControlPlaneRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return CONTROL_DB if is_control_app(model._meta.app_label) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return CONTROL_DB if is_control_app(model._meta.app_label) else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        one, two = is_control_app(obj1._meta.app_label), is_control_app(obj2._meta.app_label)
        return None if one == two else False

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        if is_control_app(app_label):
            return db == CONTROL_DB
        return db != CONTROL_DB
