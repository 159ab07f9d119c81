"""Database router for settings that hold extracted services next to the monolith (the tests).

Each extracted service's app lives in its own alias and only there; nothing else may
migrate into those aliases. Listed before ``ControlPlaneRouter``, which keeps deciding
for every other app (it would otherwise allow monolith apps into any non-control alias).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

# app label -> database alias
SERVICE_DATABASES = {"ledger_query": "ledger"}


class ExtractedServicesRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return SERVICE_DATABASES.get(model._meta.app_label)

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return SERVICE_DATABASES.get(model._meta.app_label)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        one = SERVICE_DATABASES.get(obj1._meta.app_label)
        two = SERVICE_DATABASES.get(obj2._meta.app_label)
        if one is None and two is None:
            return None
        return one == two

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        if app_label in SERVICE_DATABASES:
            return db == SERVICE_DATABASES[app_label]
        if db in SERVICE_DATABASES.values():
            return False
        return None
