"""Read the monolith's URLconf into legacy routes, so the route table knows every legacy route.

Django's ``<id:wallet_id>`` becomes the route table's ``{wallet_id}``; a class-based
view's handlers (``get``, ``post``, ...) give the methods. The walk runs in a child
process with the monolith's settings (``python -m strangler.control.routing.urlconf``)
because the control plane does not install the monolith's apps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from strangler.control.routing.errors import ControlError

_CONVERTER = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*:)?([A-Za-z_][A-Za-z0-9_]*)>")
_SKIPPED_METHODS = {"options", "head"}  # answered by Django for every view; not a capability's own


@dataclass(frozen=True)
class LegacyRoute:
    method: str
    path: str  # /api/v1/wallets/{wallet_id}/


def capability_for(path: str, prefix: str) -> str:
    """``/api/v1/wallets/{wallet_id}/transactions/`` → ``wallets.transactions`` (prefix ``/api/v1/``)."""
    rest = path[len(prefix):] if path.startswith(prefix) else path
    literals = [part for part in rest.split("/") if part and not part.startswith("{")]
    return ".".join(literals) or "root"


def walk(patterns: list[Any], prefix: str = "/") -> Iterator[tuple[str, Any]]:
    """(path template, view) for every path() pattern; regex patterns are skipped."""
    from django.urls import URLPattern, URLResolver
    from django.urls.resolvers import RoutePattern

    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        here = prefix + _CONVERTER.sub(r"{\1}", str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, here)
        elif isinstance(entry, URLPattern):
            yield here, entry.callback


def routes_of(urlconf: str, prefix: str) -> list[LegacyRoute]:
    from django.urls import get_resolver

    found: list[LegacyRoute] = []
    for path, view in walk(get_resolver(urlconf).url_patterns):
        view_class = getattr(view, "view_class", None)
        if view_class is None or not path.startswith(prefix):
            continue
        for method in view_class.http_method_names:
            if method not in _SKIPPED_METHODS and hasattr(view_class, method):
                found.append(LegacyRoute(method.upper(), path))
    return found


def legacy_routes(urlconf: str = "monolith.urls", prefix: str = "/api/",
                  settings: str = "monolith.settings") -> list[LegacyRoute]:
    """The monolith's routes under ``prefix``, read by a child process with its settings."""
    result = subprocess.run(
        [sys.executable, "-m", "strangler.control.routing.urlconf", urlconf, prefix],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": settings}, capture_output=True, text=True,
        timeout=120, check=False)
    if result.returncode != 0:
        raise ControlError(f"could not read the URLconf {urlconf!r} with settings {settings!r}; "
                           f"nothing was imported.\n{result.stderr[-3000:]}")
    return [LegacyRoute(**item) for item in json.loads(result.stdout)]


def main() -> None:
    import django

    django.setup()
    urlconf, prefix = sys.argv[1], sys.argv[2]
    print(json.dumps([asdict(r) for r in routes_of(urlconf, prefix)]))


if __name__ == "__main__":
    main()
