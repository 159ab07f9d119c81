"""The declarative legacy→extracted mapping: typed model and its one pure parser.

A mapping file (TOML, one per capability, see ``reconcile/mappings/ledger.toml``)
declares, per comparison, the legacy and extracted row sources (a base table,
many-to-one joins, an optional fan-out into named legs), the key, and each
compared column with its transforms: code-to-name maps, integer paise →
decimal rupees, sign conventions, templates. :func:`parse_mapping` turns the
text into a :class:`Mapping` or raises :class:`MappingError` naming the file,
the line and the fix. Whether the mapping fits real databases is checked
separately, against a catalogue, by :mod:`reconcile.check`. No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from reconcile.errors import MappingError

KINDS = ("int", "decimal", "text", "timestamp", "bool")
UNITS = {"paise": 2}  # unit name -> decimal places it divides away (paise / 100 = rupees)
_REF = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|([^{}]+))?\}")

Code = int | str


@dataclass(frozen=True)
class Condition:
    """``column IN values``; used for sign conventions."""

    column: str
    values: tuple[Code, ...]


@dataclass(frozen=True)
class Expr:
    """What one side computes for one compared column, before canonical text encoding."""

    column: str | None = None  # "alias.column"; None for a template
    codes: str | None = None  # name of a code map applied to ``column``
    unit: str | None = None  # e.g. "paise": integer minor units -> decimal major units
    negative_when: tuple[Condition, ...] = ()  # value negated when an odd number hold
    template: str | None = None  # "wallet:{t.wallet_id}", "{t.txn_type|txn_kind}"
    line: int | None = None
    by_leg: tuple[tuple[str, str], ...] = ()  # (leg name, template) for fanned-out rows
    empty_as_null: bool = False  # a text side's "" means absent (legacy NOT NULL text columns)

    def references(self) -> list[str]:
        refs = [self.column] if self.column else []
        refs += [c.column for c in self.negative_when]
        for template in [self.template or "", *(t for _, t in self.by_leg)]:
            refs += [m.group(1) for m in PLACEHOLDER.finditer(template)]
        if self.by_leg:
            refs.append("leg.name")
        return refs


@dataclass(frozen=True)
class Join:
    table: str
    alias: str
    on: tuple[tuple[str, str], ...]  # (this side's ref, joined table's ref) equalities
    line: int | None = None


@dataclass(frozen=True)
class Leg:
    """One row a source row fans out into (``leg.name``, ``leg.sign`` are then referable)."""

    name: str
    sign: int


@dataclass(frozen=True)
class SideSpec:
    table: str
    alias: str
    joins: tuple[Join, ...] = ()
    legs: tuple[Leg, ...] = ()
    changed_at: str | None = None  # ref whose recent values put a row in the lag window
    ignore: tuple[str, ...] = ()
    line: int | None = None

    @property
    def aliases(self) -> dict[str, str]:
        return {self.alias: self.table, **{j.alias: j.table for j in self.joins}}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    legacy: Expr
    extracted: Expr
    kind: str | None = None  # comparison kind; inferred from the extracted column if None
    scale: int | None = None
    tolerance: Decimal = Decimal(0)
    line: int | None = None


@dataclass(frozen=True)
class Comparison:
    name: str
    legacy: SideSpec
    extracted: SideSpec
    key: tuple[ColumnSpec, ...]
    columns: tuple[ColumnSpec, ...]
    lag_window: timedelta = timedelta(0)
    line: int | None = None


@dataclass(frozen=True)
class Mapping:
    capability: str
    source: str
    version_hash: str  # sha256 of the parsed content: comments and layout do not change it
    codes: dict[str, dict[Code, str]]
    comparisons: tuple[Comparison, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def comparison(self, name: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.name == name:
                return comparison
        raise KeyError(name)


def load_mapping(path: Path | str) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MappingError(str(path), None, f"the mapping file cannot be read ({reason})",
                           "pass the path of a readable UTF-8 TOML mapping file") from exc
    return parse_mapping(text, str(path))


def parse_mapping(text: str, source: str = "<mapping>") -> Mapping:
    """Parse a mapping file's text into a :class:`Mapping`; raise :class:`MappingError`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise MappingError(source, line, f"not valid TOML ({exc})",
                           "correct the syntax at that line") from exc
    return _Parser(text, source).mapping(doc)


class _Locator:
    """Finds the line of a table header / key, since tomllib does not report positions."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def nth_header(self, header: str, n: int, start: int = 0, end: int | None = None) -> int | None:
        pattern = re.compile(r"^\s*\[\[?\s*" + re.escape(header) + r"\s*\]\]?\s*(#.*)?$")
        seen = 0
        for index in range(start, len(self.lines) if end is None else end):
            if pattern.match(self.lines[index]):
                if seen == n:
                    return index + 1
                seen += 1
        return None

    def key(self, key: str, start: int | None, end: int | None = None) -> int | None:
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        first = (start or 1) - 1
        for index in range(first, len(self.lines) if end is None else end):
            if pattern.match(self.lines[index]):
                return index + 1
        return start

    def block_end(self, start: int | None) -> int:
        if start is None:
            return len(self.lines)
        for index in range(start, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[index]):
                return index
        return len(self.lines)


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.at = _Locator(text)

    def fail(self, line: int | None, problem: str, fix: str) -> MappingError:
        return MappingError(self.source, line, problem, fix)

    def mapping(self, doc: dict[str, Any]) -> Mapping:
        head = doc.get("mapping")
        head_line = self.at.nth_header("mapping", 0)
        if not isinstance(head, dict) or not isinstance(head.get("capability"), str):
            raise self.fail(head_line, "missing [mapping] table with a `capability` name",
                            'start the file with [mapping] and capability = "ledger"')
        codes = self.codes(doc.get("codes", {}))
        raw = doc.get("comparison")
        if not isinstance(raw, list) or not raw:
            raise self.fail(None, "no [[comparison]] declared",
                            "declare at least one [[comparison]] with legacy, extracted, key")
        comparisons = tuple(self.comparison(i, item, codes) for i, item in enumerate(raw))
        names = [c.name for c in comparisons]
        for comparison in comparisons:
            if names.count(comparison.name) > 1:
                raise self.fail(comparison.line, f"comparison {comparison.name!r} declared twice",
                                "give every [[comparison]] a distinct name")
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
        return Mapping(head["capability"], self.source, digest, codes, comparisons)

    def codes(self, raw: Any) -> dict[str, dict[Code, str]]:
        result: dict[str, dict[Code, str]] = {}
        if not isinstance(raw, dict):
            raise self.fail(self.at.nth_header("codes", 0), "[codes] must be a table of tables",
                            "write [codes.NAME] with code = \"name\" lines")
        for name, table in raw.items():
            line = self.at.nth_header(f"codes.{name}", 0)
            if not isinstance(table, dict) or not table:
                raise self.fail(line, f"code map {name!r} is empty or not a table",
                                f'write [codes.{name}] followed by lines like 1 = "credit"')
            converted: dict[Code, str] = {}
            for code, label in table.items():
                if not isinstance(label, str):
                    raise self.fail(self.at.key(str(code), line), f"code {code} in {name!r} "
                                    "does not map to a string", f'write {code} = "label"')
                converted[int(code) if code.lstrip("-").isdigit() else code] = label
            result[name] = converted
        return result

    def comparison(self, index: int, raw: Any, codes: dict[str, dict[Code, str]]) -> Comparison:
        line = self.at.nth_header("comparison", index)
        end = self.at.nth_header("comparison", index + 1)
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise self.fail(line, "a [[comparison]] has no `name`", 'add name = "transactions"')
        name = raw["name"]
        sides = {}
        for side in ("legacy", "extracted"):
            sides[side] = self.side(raw.get(side), side, name, line, end)
        lag = raw.get("lag_window_seconds", 0)
        if not isinstance(lag, int) or lag < 0:
            raise self.fail(self.at.key("lag_window_seconds", line, end),
                            "lag_window_seconds must be a whole number >= 0",
                            "set it to the replication lag you tolerate, e.g. 300")
        keys = raw.get("key")
        if not isinstance(keys, list) or not keys:
            raise self.fail(line, f"comparison {name!r} declares no key",
                            "add [[comparison.key]] with name, legacy and extracted")
        key = tuple(self.column(j, k, "key", line, end, codes) for j, k in enumerate(keys))
        cols = raw.get("columns", [])
        columns = tuple(self.column(j, c, "columns", line, end, codes) for j, c in enumerate(cols))
        for spec in key:
            if spec.tolerance or spec.legacy.negative_when or spec.legacy.unit:
                raise self.fail(spec.line, f"key column {spec.name!r} has a tolerance or an "
                                "arithmetic transform; such a key cannot match rows exactly",
                                "key on the plain identifier columns")
        seen: set[str] = set()
        for spec in key + columns:
            if spec.name in seen:
                raise self.fail(spec.line, f"column name {spec.name!r} used twice in {name!r}",
                                "give each key/column entry a distinct name")
            seen.add(spec.name)
        return Comparison(name, sides["legacy"], sides["extracted"], key, columns,
                          timedelta(seconds=lag), line)

    def side(self, raw: Any, side: str, name: str, start: int | None,
             end: int | None) -> SideSpec:
        line = self.at.nth_header(f"comparison.{side}", 0, (start or 1) - 1, end) or start
        if not isinstance(raw, dict) or not isinstance(raw.get("table"), str):
            raise self.fail(line, f"comparison {name!r} has no {side} table",
                            f'add [comparison.{side}] with table = "..." and alias = "..."')
        alias = str(raw.get("alias", raw["table"]))
        joins = []
        for j in raw.get("joins", []):
            jline = self.at.key("joins", line, end)
            on = j.get("on") if isinstance(j, dict) else None
            if not isinstance(on, dict) or not on or "table" not in j:
                raise self.fail(jline, f"a {side} join lacks `table` or `on`",
                                'write { table = "wallets_wallet", alias = "w", '
                                'on = { "t.wallet_id" = "w.id" } }')
            pairs = tuple((self.ref(k, jline), self.ref(v, jline)) for k, v in on.items())
            joins.append(Join(j["table"], j.get("alias", j["table"]), pairs, jline))
        legs = []
        for leg in raw.get("legs", []):
            lline = self.at.key("legs", line, end)
            if not isinstance(leg, dict) or leg.get("sign") not in (1, -1) or "name" not in leg:
                raise self.fail(lline, f"a {side} leg needs a name and sign = 1 or -1",
                                'write legs = [{ name = "wallet", sign = 1 }, ...]')
            legs.append(Leg(str(leg["name"]), int(leg["sign"])))
        changed = raw.get("changed_at")
        ignore = raw.get("ignore", [])
        return SideSpec(
            raw["table"], alias, tuple(joins), tuple(legs),
            self.ref(changed, self.at.key("changed_at", line, end)) if changed else None,
            tuple(self.ref(r, self.at.key("ignore", line, end)) for r in ignore), line)

    def ref(self, value: Any, line: int | None) -> str:
        if not isinstance(value, str) or not _REF.match(value):
            raise self.fail(line, f"{value!r} is not a column reference",
                            'write columns as "alias.column" in lower case, e.g. "t.amount"')
        return value

    def column(self, index: int, raw: Any, what: str, start: int | None, end: int | None,
               codes: dict[str, dict[Code, str]]) -> ColumnSpec:
        line = self.at.nth_header(f"comparison.{what}", index, (start or 1) - 1, end)
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise self.fail(line, f"a [[comparison.{what}]] entry has no name",
                            'add name = "amount"')
        block_end = self.at.block_end(line)
        kind = raw.get("type")
        if kind is not None and kind not in KINDS:
            raise self.fail(self.at.key("type", line, block_end), f"unknown type {kind!r}",
                            f"use one of {', '.join(KINDS)}")
        scale = raw.get("scale")
        if scale is not None and (not isinstance(scale, int) or not 0 <= scale <= 18):
            raise self.fail(self.at.key("scale", line, block_end), "scale must be 0..18",
                            "set scale to the number of decimal places compared")
        try:
            tolerance = Decimal(str(raw.get("tolerance", "0")))
        except InvalidOperation as exc:
            raise self.fail(self.at.key("tolerance", line, block_end), "tolerance is not a number",
                            'write tolerance = "0.01" (exact by default)') from exc
        if tolerance < 0:
            raise self.fail(self.at.key("tolerance", line, block_end), "tolerance is negative",
                            "write an absolute difference >= 0")
        exprs = {}
        for side in ("legacy", "extracted"):
            exprs[side] = self.expr(raw.get(side), side, raw["name"],
                                    self.at.key(side, line, block_end), codes)
        return ColumnSpec(raw["name"], exprs["legacy"], exprs["extracted"], kind, scale,
                          tolerance, line)

    def expr(self, raw: Any, side: str, name: str, line: int | None,
             codes: dict[str, dict[Code, str]]) -> Expr:
        if isinstance(raw, str):
            return Expr(column=self.ref(raw, line), line=line)
        if not isinstance(raw, dict):
            raise self.fail(line, f"column {name!r} has no {side} side",
                            f'add {side} = "alias.column" or an inline table with transforms')
        unknown = set(raw) - {"column", "codes", "unit", "negative_when", "template", "empty_as_null"}
        if unknown:
            raise self.fail(line, f"unknown transform(s) {sorted(unknown)} for {name!r}",
                            "use column, codes, unit, negative_when, empty_as_null or template")
        empty_as_null = raw.get("empty_as_null", False)
        if not isinstance(empty_as_null, bool):
            raise self.fail(line, f"empty_as_null of {name!r} must be true or false",
                            "write empty_as_null = true")
        template = raw.get("template")
        if template is not None:
            if set(raw) != {"template"}:
                raise self.fail(line, "a template cannot be combined with other transforms",
                                "use either template or column with transforms")
            templates = template.items() if isinstance(template, dict) else [("", template)]
            for _, text in templates:
                if not isinstance(text, str):
                    raise self.fail(line, "a template must be a string",
                                    'write template = "wallet:{t.wallet_id}"')
                for match in PLACEHOLDER.finditer(text):
                    self.ref(match.group(1), line)
                    if match.group(2) and match.group(2) not in codes:
                        raise self.fail(line, f"template uses unknown code map "
                                        f"{match.group(2)!r}",
                                        f"declare [codes.{match.group(2)}] or fix the name")
            if isinstance(template, dict):
                return Expr(template="", by_leg=tuple(template.items()), line=line)
            return Expr(template=template, line=line)
        column = self.ref(raw.get("column"), line)
        code_map = raw.get("codes")
        if code_map is not None and code_map not in codes:
            raise self.fail(line, f"unknown code map {code_map!r}",
                            f"declare [codes.{code_map}] or use one of {sorted(codes)}")
        unit = raw.get("unit")
        if unit is not None and unit not in UNITS:
            raise self.fail(line, f"unknown unit {unit!r}", f"use one of {sorted(UNITS)}")
        conditions = raw.get("negative_when", [])
        if isinstance(conditions, dict):
            conditions = [conditions]
        parsed = []
        for cond in conditions:
            if not isinstance(cond, dict) or not isinstance(cond.get("in"), list):
                raise self.fail(line, "negative_when needs { column = ..., in = [...] }",
                                'write negative_when = { column = "t.txn_type", in = [2, 4] }')
            parsed.append(Condition(self.ref(cond.get("column"), line), tuple(cond["in"])))
        return Expr(column, code_map, unit, tuple(parsed), None, line, empty_as_null=empty_as_null)
