"""Check a parsed mapping against both databases' catalogues, before any run.

Pure: the catalogues are plain data (read by ``reconcile.adapters.postgres.read_catalog``
or written by hand in tests). Refuses, with file, line and fix: unknown tables or
columns, types that cannot be compared, ambiguous keys (nullable key columns, joins
that would repeat rows, fan-outs whose leg is not in the key), and base-table
columns that are neither compared nor declared ignored — so a column added to a
table later is noticed rather than silently skipped.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass

from reconcile.errors import MappingError
from reconcile.mapping import UNITS, Code, ColumnSpec, Comparison, Expr, Mapping, SideSpec

LEG_ALIAS = "leg"


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type_name: str  # as format_type() prints it
    nullable: bool = False
    scale: int | None = None

    @property
    def category(self) -> str:
        t = self.type_name
        if t in ("smallint", "integer", "bigint"):
            return "int"
        if t.startswith("numeric"):
            return "decimal"
        if t == "text" or t.startswith(("character varying", "character(", "character")):
            return "text"
        if t.startswith("timestamp"):
            return "timestamp"
        if t == "boolean":
            return "bool"
        return "other"


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: MappingABC[str, ColumnInfo]
    unique_keys: tuple[frozenset[str], ...] = ()


Catalog = MappingABC[str, TableInfo]


@dataclass(frozen=True)
class Kind:
    kind: str
    scale: int | None = None


@dataclass(frozen=True)
class CheckedComparison:
    """A comparison that fits both databases, with the resolved comparison kinds."""

    comparison: Comparison
    capability: str
    mapping_hash: str
    source: str
    key_kinds: tuple[str, ...]  # "int" | "text" per key column
    kinds: MappingABC[str, Kind]  # compared column name -> kind
    source_kinds: MappingABC[tuple[str, str], str]  # (side, ref) -> category, for literals
    code_maps: MappingABC[str, MappingABC[Code, str]]


def check_mapping(mapping: Mapping, legacy: Catalog, extracted: Catalog) -> tuple[
        CheckedComparison, ...]:
    """Resolve every comparison of ``mapping`` against the two catalogues, or raise."""
    return tuple(_Checker(mapping, c, legacy, extracted).run() for c in mapping.comparisons)


class _Checker:
    def __init__(self, mapping: Mapping, comparison: Comparison, legacy: Catalog,
                 extracted: Catalog) -> None:
        self.mapping = mapping
        self.c = comparison
        self.catalogs = {"legacy": legacy, "extracted": extracted}
        self.specs = {"legacy": comparison.legacy, "extracted": comparison.extracted}
        self.source_kinds: dict[tuple[str, str], str] = {}

    def fail(self, line: int | None, problem: str, fix: str) -> MappingError:
        return MappingError(self.mapping.source, line, problem, fix)

    def run(self) -> CheckedComparison:
        for side in ("legacy", "extracted"):
            self.check_tables(side)
        key_kinds = tuple(self.key_kind(spec) for spec in self.c.key)
        kinds = {spec.name: self.column_kind(spec) for spec in self.c.columns}
        for side in ("legacy", "extracted"):
            self.check_legs_keyed(side)
            self.check_all_columns_accounted(side)
            if self.specs[side].changed_at:
                cat = self.category(side, self.specs[side].changed_at or "", self.specs[side].line)
                if cat != "timestamp":
                    raise self.fail(self.specs[side].line, f"{side} changed_at is not a timestamp",
                                    "point changed_at at a timestamptz column")
        return CheckedComparison(self.c, self.mapping.capability, self.mapping.version_hash,
                                 self.mapping.source,
                                 key_kinds, kinds, dict(self.source_kinds),
                                 self.mapping.codes)

    def check_tables(self, side: str) -> None:
        spec, catalog = self.specs[side], self.catalogs[side]
        for alias, table in spec.aliases.items():
            if table not in catalog:
                raise self.fail(spec.line, f"unknown {side} table {table!r} (alias {alias})",
                                f"use an existing table; the {side} database has "
                                f"{', '.join(sorted(catalog)) or 'no tables'}")
        for join in spec.joins:
            joined = catalog[join.table]
            right: set[str] = set()
            for left_ref, right_ref in join.on:
                self.category(side, left_ref, join.line)
                self.category(side, right_ref, join.line)
                if right_ref.split(".")[0] != join.alias:
                    raise self.fail(join.line, f"join on {right_ref}: the right-hand side must "
                                    f"be a column of {join.alias}",
                                    f'write on = {{ "{spec.alias}.x" = "{join.alias}.id" }}')
                right.add(right_ref.split(".")[1])
            if not any(key <= right for key in joined.unique_keys):
                raise self.fail(join.line, f"join to {join.table} on {sorted(right)} is not on a "
                                "unique key, so it could repeat rows and make the key ambiguous",
                                f"join on {join.table}'s primary key or a unique column")

    def category(self, side: str, ref: str, line: int | None) -> str:
        spec = self.specs[side]
        alias, column = ref.split(".")
        if alias == LEG_ALIAS and spec.legs:
            if column not in ("name", "sign"):
                raise self.fail(line, f"unknown leg column {ref}", "use leg.name or leg.sign")
            return "text" if column == "name" else "int"
        table = spec.aliases.get(alias)
        if table is None:
            raise self.fail(line, f"unknown alias {alias!r} in {ref} ({side} side)",
                            f"use one of {', '.join(sorted(spec.aliases))}")
        info = self.catalogs[side][table].columns.get(column)
        if info is None:
            raise self.fail(line, f"unknown column {column!r} in {side} table {table}",
                            f"use one of {', '.join(sorted(self.catalogs[side][table].columns))}")
        self.source_kinds[(side, ref)] = info.category
        return info.category

    def info(self, side: str, ref: str) -> ColumnInfo | None:
        alias, column = ref.split(".")
        table = self.specs[side].aliases.get(alias)
        return None if table is None else self.catalogs[side][table].columns.get(column)

    def expr_kind(self, side: str, expr: Expr) -> Kind:
        for ref in expr.references():
            self.category(side, ref, expr.line)
        if expr.template is not None:
            return Kind("text")
        assert expr.column is not None  # the parser guarantees column or template
        base = self.category(side, expr.column, expr.line)
        info = self.info(side, expr.column)
        kind = Kind(base, info.scale if info else None)
        if base == "other":
            raise self.fail(expr.line, f"{expr.column} has type "
                            f"{info.type_name if info else '?'} which cannot be compared",
                            "compare integer, numeric, text, timestamp or boolean columns")
        if expr.empty_as_null and (base != "text" or expr.codes or expr.unit):
            raise self.fail(expr.line, f"empty_as_null needs a plain text column, {expr.column} is "
                            f"{base}", "remove empty_as_null or apply it to a text column")
        if expr.codes:
            return Kind("text")
        if expr.unit:
            if base != "int":
                raise self.fail(expr.line, f"unit {expr.unit} needs an integer column, "
                                f"{expr.column} is {base}", "remove the unit or fix the column")
            kind = Kind("decimal", UNITS[expr.unit])
        if expr.negative_when and kind.kind not in ("int", "decimal"):
            raise self.fail(expr.line, f"negative_when on non-numeric {expr.column}",
                            "apply sign conventions to numeric columns only")
        return kind

    def key_kind(self, spec: ColumnSpec) -> str:
        kinds = []
        for side in ("legacy", "extracted"):
            expr: Expr = getattr(spec, side)
            if expr.column is None or expr.codes or expr.unit or expr.empty_as_null:
                raise self.fail(spec.line, f"key {spec.name!r} must be a plain column on "
                                f"the {side} side", "key on identifier columns, untransformed")
            kind = self.expr_kind(side, expr).kind
            info = self.info(side, expr.column)
            if info is not None and info.nullable:
                raise self.fail(spec.line, f"key column {expr.column} ({side}) is nullable, so "
                                "rows with NULL keys could not be matched: the key is ambiguous",
                                "key on NOT NULL columns (add NOT NULL, or pick the primary key)")
            if kind not in ("int", "text"):
                raise self.fail(spec.line, f"key {spec.name!r} is {kind} on the {side} side",
                                "key on integer or text columns")
            kinds.append(kind)
        if kinds[0] != kinds[1]:
            raise self.fail(spec.line, f"key {spec.name!r} is {kinds[0]} in legacy but "
                            f"{kinds[1]} in extracted, so the two cannot be ordered alike",
                            "key on columns of the same kind on both sides")
        return kinds[0]

    def column_kind(self, spec: ColumnSpec) -> Kind:
        legacy = self.expr_kind("legacy", spec.legacy)
        extracted = self.expr_kind("extracted", spec.extracted)
        kind = spec.kind or extracted.kind
        numeric = {"int", "decimal"}
        for side, found in (("legacy", legacy), ("extracted", extracted)):
            ok = found.kind == kind or (kind == "decimal" and found.kind in numeric)
            if not ok:
                line = getattr(spec, side).line or spec.line
                raise self.fail(line, f"column {spec.name!r}: {side} side is {found.kind}, "
                                f"compared as {kind}; these cannot be compared",
                                "add a transform (codes, unit) or set type explicitly")
        if kind == "decimal":
            scale = spec.scale if spec.scale is not None else (
                extracted.scale if extracted.scale is not None else legacy.scale)
            if scale is None:
                raise self.fail(spec.line, f"column {spec.name!r} has no known decimal scale",
                                "set scale = 2 (places compared)")
            return Kind("decimal", scale)
        if spec.tolerance and kind not in numeric:
            raise self.fail(spec.line, f"tolerance on non-numeric column {spec.name!r}",
                            "remove the tolerance; text, time and flags compare exactly")
        return Kind(kind)

    def check_legs_keyed(self, side: str) -> None:
        spec = self.specs[side]
        if not spec.legs:
            return
        refs = {getattr(k, side).column for k in self.c.key}
        if f"{LEG_ALIAS}.name" not in refs:
            raise self.fail(spec.line, f"{side} side fans out into legs but leg.name is not in "
                            "the key, so the legs of one row would share a key",
                            f'add a [[comparison.key]] with {side} = "leg.name"')

    def check_all_columns_accounted(self, side: str) -> None:
        spec: SideSpec = self.specs[side]
        used: set[str] = set(spec.ignore)
        for column in self.c.key + self.c.columns:
            used.update(getattr(column, side).references())
        for join in spec.joins:
            used.update(ref for pair in join.on for ref in pair)
        if spec.changed_at:
            used.add(spec.changed_at)
        for ref in spec.ignore:
            self.category(side, ref, spec.line)
        table = self.catalogs[side][spec.table]
        for name in table.columns:
            if f"{spec.alias}.{name}" not in used:
                raise self.fail(spec.line, f"{side} column {spec.table}.{name} is neither "
                                "compared nor ignored",
                                f'compare it in a [[comparison.columns]] or add "{spec.alias}.'
                                f'{name}" to {side}.ignore')
