"""Read a canary's sticky key (merchant id, user id, API key) out of a request.

Pure: works on the request facts the data plane already parsed. A missing or
empty key returns None and the decision keeps that request on the monolith.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from routing_proxy.routes import KeySource, StickyKey


def sticky_key_value(
    spec: StickyKey | None,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    query: str,
) -> str | None:
    """The key's value, or None. ``headers`` has lower-case names; ``query`` is raw."""
    if spec is None:
        return None
    if spec.source is KeySource.HEADER:
        value = headers.get(spec.name.lower())
    elif spec.source is KeySource.PATH_PARAM:
        value = params.get(spec.name)
    else:
        values = parse_qs(query, keep_blank_values=False).get(spec.name)
        value = values[0] if values else None
    return value or None
