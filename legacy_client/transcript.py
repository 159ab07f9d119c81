"""What a scripted run did and saw: exchanges, failed expectations, and a comparable view.

Pure: no I/O. :meth:`Transcript.normalised` masks what legitimately differs
between two runs (ids, timestamps, request ids, secrets, the run's own token,
listings of shared state) so that a run straight at the monolith and a run
through the routing proxy can be compared with ``==``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Headers whose value a legacy client depends on; the rest (date, request id, cookies,
# content-length of bodies holding ids) vary by run.
COMPARED_HEADERS = ("content-type", "allow", "www-authenticate")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_IN_PATH = re.compile(r"/\d+(?=/|$|\?)")
_SECRET_KEYS = frozenset({"secret"})


@dataclass(frozen=True)
class Exchange:
    step: str
    method: str
    path: str  # path and query, as sent
    request_body: bytes | None
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    volatile: frozenset[str] = frozenset()  # body keys whose values depend on shared state

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Failure:
    step: str
    message: str

    def __str__(self) -> str:
        return f"{self.step}: {self.message}"


@dataclass
class Transcript:
    run_token: str
    exchanges: list[Exchange] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, step: str, message: str) -> None:
        self.failures.append(Failure(step, message))

    def normalised(self) -> list[dict[str, Any]]:
        masker = Masker(self.run_token, self.ids_seen())
        return [masker.exchange(e) for e in self.exchanges]

    def ids_seen(self) -> set[int]:
        """Every id the run met (in id fields of responses and in paths): masked in messages too."""
        ids: set[int] = set()
        for exchange in self.exchanges:
            ids.update(int(n) for n in re.findall(r"/(\d+)(?=/|$|\?)", exchange.path))
            _collect_ids(exchange.json(), "", ids)
        return ids


def _collect_ids(value: Any, key: str, into: set[int]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _collect_ids(v, k, into)
    elif isinstance(value, list):
        for v in value:
            _collect_ids(v, key, into)
    elif (key == "id" or key.endswith("_id")) and type(value) is int:
        into.add(value)


class Masker:
    """Masks one run's volatile values: its token, its ids (also inside messages), CSRF tokens."""

    def __init__(self, token: str, ids: Iterable[int] = ()) -> None:
        self.token = token
        alternatives = "|".join(str(i) for i in sorted(ids, reverse=True))
        self._ids = re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w.])") if alternatives else None

    def exchange(self, exchange: Exchange) -> dict[str, Any]:
        return {
            "step": exchange.step,
            "method": exchange.method,
            "path": _ID_IN_PATH.sub("/<id>", self.text(exchange.path)),
            "request": self.body(exchange.request_body, frozenset()),
            "status": exchange.status,
            "headers": {k: exchange.headers[k] for k in COMPARED_HEADERS if k in exchange.headers},
            "body": self.body(exchange.body, exchange.volatile),
        }

    def body(self, body: bytes | None, volatile: frozenset[str]) -> Any:
        if body is None:
            return None
        try:
            value = json.loads(body)
        except ValueError:
            return self.text(body.decode("utf-8", "replace"))
        return mask_value(value, self.token, volatile, masker=self)

    def text(self, text: str) -> str:
        text = _CSRF.sub(r"\1<csrf>", text)
        if self.token:
            text = text.replace(self.token, "<run>")
        return self._ids.sub("<id>", text) if self._ids else text


_CSRF = re.compile(r'(csrfmiddlewaretoken=|name="csrfmiddlewaretoken" value=")[A-Za-z0-9]+')


def mask_value(value: Any, token: str, volatile: frozenset[str] = frozenset(),
               key: str = "", masker: Masker | None = None) -> Any:
    """Mask run-specific values inside a decoded JSON document, recursively."""
    masker = masker or Masker(token)
    if key in volatile:
        return f"<{key}>"
    if isinstance(value, dict):
        return {k: mask_value(v, token, volatile, k, masker) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, token, volatile, key, masker) for v in value]
    if key in _SECRET_KEYS and isinstance(value, str):
        return "<secret>"
    if (key == "id" or key.endswith("_id")) and isinstance(value, int) and not isinstance(
            value, bool):
        return "<id>"
    if isinstance(value, str):
        if key in ("next", "previous") and value.startswith("http"):
            parts = urlsplit(value)
            return _ID_IN_PATH.sub("/<id>", parts.path) + ("?" + parts.query if parts.query else "")
        if _TIMESTAMP.match(value):
            return "<timestamp>"
        if key in ("date", "from", "to") and _DATE.match(value):
            return "<date>"
        return masker.text(value)
    return value


def normalised_against(transcript: Transcript, other: Transcript) -> list[dict[str, Any]]:
    """Like ``Transcript.normalised`` but masking the ids *both* runs saw.

    The Masker also masks numbers in free text (HTML of the admin login page) that equal an
    id the run saw; with each run's own ids, an SVG's "24" is masked in one run and not the
    other. Masking the union compares the two runs on equal terms.
    """
    masker = Masker(transcript.run_token, transcript.ids_seen() | other.ids_seen())
    return [masker.exchange(e) for e in transcript.exchanges]


def first_difference(one: Transcript, two: Transcript) -> str | None:
    """None when a client could not tell the two runs apart; else the first differing exchange,
    field by field, as a readable diff."""
    import difflib

    left, right = normalised_against(one, two), normalised_against(two, one)
    if left == right:
        return None
    for a, b in zip(left, right, strict=False):
        if a != b:
            lines = [f"step {a['step']!r}:"]
            for key in a:
                if a[key] != b.get(key):
                    lines += difflib.unified_diff(str(a[key]).splitlines(), str(b.get(key)).splitlines(),
                                                  "first", "second", lineterm="", n=1)
            return "\n".join(lines)
    return f"different number of exchanges: {len(left)} and {len(right)}"

