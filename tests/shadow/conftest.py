"""Fixtures for the shadow suite's Django tests: the ACL capture on pytest-django's test database."""

from __future__ import annotations

import pytest

from acl.install import install


@pytest.fixture(scope="session")
def shadow_capture(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    """Capture installed in the test database (idempotent), so writes land in strangler_acl.outbox."""
    from django.db import connection

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        s = connection.settings_dict
        install(f"postgresql://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}")
