"""Connections to PostgreSQL that say who they are: ``application_name`` shows in pg_stat_activity.

An operator (or a benchmark) can then tell the relay's backends from a consumer's, and what each
costs the server, without guessing from the last query. A name already in the URL is kept.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict


def connect(database_url: str, application_name: str, **kwargs: Any) -> psycopg.Connection[Any]:
    if "application_name" not in conninfo_to_dict(database_url):
        kwargs["application_name"] = application_name
    return psycopg.connect(database_url, **kwargs)
