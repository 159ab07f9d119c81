import pytest
from django.db import connection


@pytest.mark.django_db
def test_database_is_real_postgresql() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        assert cur.fetchone()[0].startswith("18")
