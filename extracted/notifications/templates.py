"""The template catalogue: one TOML file per locale, one table per notification kind. Pure.

``templates/en.toml``::

    ["wallet.credited"]
    subject = "Money added to your wallet"              # e-mail subject
    body = "{currency} {amount} was credited to wallet {wallet_id}."
    text = "..."                                        # SMS and push; optional, defaults to body

Placeholders are plain ``{name}`` fields from ``domain.FIELDS[kind]``. ``load`` checks the whole
catalogue up front, so a broken one stops the process at start (and ``manage.py check``
fails) instead of a send failing later: every kind must exist in the fallback locale, no
unknown kind or placeholder, no format spec. ``Catalogue.render`` falls back from
``pt-BR`` to ``pt`` to the fallback locale, per kind.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from extracted.notifications.domain import FIELDS
from extracted.notifications.errors import TemplateError

DEFAULT_DIR = Path(__file__).with_name("templates")
_PARTS = ("subject", "body", "text")


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    text: str


@dataclass(frozen=True)
class Rendered:
    kind: str
    locale: str  # the locale whose template was used
    subject: str
    body: str
    text: str


def _placeholders(source: str, where: str) -> set[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(source))
    except ValueError as exc:
        raise TemplateError(f"{where}: {exc}. Escape a literal brace as '{{{{' or '}}}}'.") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(f"{where}: placeholder {{{name}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}} is not a plain field name; "
                                "write {field} (values arrive formatted).")
        names.add(name)
    return names


def _template(path: Path, kind: str, table: object) -> Template:
    where = f"{path} [{kind!r}]"
    if kind not in FIELDS:
        raise TemplateError(f"{where}: unknown notification kind; known kinds: {', '.join(sorted(FIELDS))}.")
    if not isinstance(table, dict):
        raise TemplateError(f"{where}: must be a table with subject, body (and optionally text).")
    unknown_keys = set(table) - set(_PARTS)
    missing = [p for p in ("subject", "body") if not isinstance(table.get(p), str) or not table[p].strip()]
    if unknown_keys or missing or not isinstance(table.get("text", ""), str):
        raise TemplateError(f"{where}: needs non-empty strings subject and body, optional text; "
                            f"missing {missing}, unknown keys {sorted(unknown_keys)}.")
    template = Template(table["subject"], table["body"], table.get("text") or table["body"])
    for part in _PARTS:
        bad = _placeholders(getattr(template, part), f"{where}.{part}") - FIELDS[kind]
        if bad:
            raise TemplateError(f"{where}.{part}: unknown placeholder(s) {sorted(bad)}; "
                                f"{kind} offers {sorted(FIELDS[kind])}.")
    return template


class Catalogue:
    def __init__(self, templates: Mapping[str, Mapping[str, Template]], fallback: str) -> None:
        self.templates, self.fallback = templates, fallback

    def candidates(self, locale: str | None) -> list[str]:
        wanted = (locale or "").strip().replace("_", "-")
        chain = [wanted, wanted.split("-")[0]] if wanted else []
        return list(dict.fromkeys([*chain, self.fallback]))

    def render(self, kind: str, locale: str | None, fields: Mapping[str, str]) -> Rendered:
        for candidate in self.candidates(locale):
            template = self.templates.get(candidate, {}).get(kind)
            if template is not None:
                values = {name: fields.get(name, "") for name in FIELDS[kind]}
                return Rendered(kind, candidate, template.subject.format_map(values),
                                template.body.format_map(values), template.text.format_map(values))
        # load() made sure the fallback locale has every kind; only a hand-built catalogue gets here
        raise TemplateError(f"no template for {kind!r} in {self.candidates(locale)}")


def load(directory: Path = DEFAULT_DIR, fallback: str = "en") -> Catalogue:
    """Read and check every ``<locale>.toml`` in ``directory``; ``TemplateError`` names the fix."""
    files = sorted(directory.glob("*.toml"))
    templates: dict[str, dict[str, Template]] = {}
    for path in files:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TemplateError(f"{path}: cannot read the template file ({exc}). Fix the file.") from None
        templates[path.stem] = {kind: _template(path, kind, table) for kind, table in document.items()}
    if fallback not in templates:
        raise TemplateError(f"{directory}: no {fallback}.toml for the fallback locale {fallback!r} "
                            f"(found {sorted(templates) or 'no template files'}). Add it or set "
                            "STRANGLER_NOTIFICATIONS_FALLBACK_LOCALE to a locale that has one.")
    missing = sorted(set(FIELDS) - set(templates[fallback]))
    if missing:
        raise TemplateError(f"{directory / (fallback + '.toml')}: the fallback locale has no template "
                            f"for {missing}; every kind needs one there (other locales may omit kinds).")
    return Catalogue(templates, fallback)
