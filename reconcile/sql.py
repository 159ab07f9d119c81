"""Compile a checked comparison into the SQL each side runs. Pure string building.

Each side gets a *projection* that yields, per row, the key columns (native:
bigint or text COLLATE "C"), one canonical text per compared column, the
lag-window timestamp, and ``digest``: a 64-bit hash of (keys, canonical columns).
The canonical text is the same on both sides for equal rows, whatever the storage
(legacy paise ``12345`` with a DEBIT code and extracted numeric ``-123.45`` both
become ``-123.45``).

``digest`` chains one seeded hash per value, each step seeded with the hash so far
(``hashtextextended(value, previous)``), so no row-wide string is ever built: that
string (the record text of the row) and hashing it was most of the first pass's
cost. Each value is hashed on its own, so column boundaries are unambiguous, and
the chain is order-sensitive and non-linear, so values swapped between columns or
between rows of one segment change the sum. NULL hashes as the empty string; a
text value gets a ``~`` appended first so that it is never empty, and every other
canonical text (numbers, timestamps, booleans) is non-empty already, so NULL
never equals ``''`` or the string "null". Integer keys are hashed as two 32-bit
halves (``hashint8extended`` alone folds 64 bits into 32). Text is hashed under
``COLLATE "C"`` so a case-insensitive column collation cannot make values equal.

``enc``, the record text of (keys, canonical columns), is kept for the ``md5``
row hash (sides on different major versions or architectures) and the previous
``hashtextextended`` whole-row hash, which benchmarks compare against.
A segment's checksum is ``count(*)`` and the sum of the row hashes
(:data:`ROW_HASHES`): order-independent, one pass, comparable across servers.

Keys are ordered in byte order. A single integer key buckets natively; any
other key buckets on a ``sortkey`` bytea whose memcmp order equals the key's
order (see :func:`sortkey`), so composite and text keys work with
``width_bucket`` and sort identically in Python.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass

from reconcile.check import LEG_ALIAS, CheckedComparison, Kind
from reconcile.mapping import PLACEHOLDER, UNITS, Code, Expr, SideSpec

KeyValue = int | str
Key = tuple[KeyValue, ...]

# Row hash functions, by name. "chained" (the default) is the digest above, built from
# PostgreSQL's own 64-bit hashes (the ones hash partitioning uses; stable since
# PostgreSQL 11); "hashtextextended" hashes the whole record text instead, about 1.6x the
# first pass's CPU per side (measured at 1M rows); md5 is there for sides on different
# major versions or architectures.
ROW_HASHES = {
    "chained": "s.digest",
    "hashtextextended": "hashtextextended(s.enc, 0)",
    "md5": "('x' || substr(md5(s.enc), 1, 16))::bit(64)::bigint",
}
# Sessions set this so timestamps print the same on both sides (the adapter and naive do).
SESSION_SETUP = "SET DateStyle = 'ISO, YMD'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Code) -> str:
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def ref_sql(ref: str) -> str:
    alias, column = ref.split(".")
    return f"{ident(alias)}.{ident(column)}"


def sortkey(key: Key, kinds: Sequence[str]) -> bytes:
    """The bytes whose memcmp order is the key's order; mirrors :meth:`SideSql.sortkey_sql`.

    Integers: 8 bytes big-endian with the sign bit flipped. Text: UTF-8 then a 0x00
    terminator (PostgreSQL text never holds NUL), so a prefix sorts first as in "C".
    """
    out = bytearray()
    for value, kind in zip(key, kinds, strict=True):
        if kind == "int":
            out += struct.pack(">Q", (int(value) + (1 << 63)) & ((1 << 64) - 1))
        else:
            out += str(value).encode("utf-8") + b"\x00"
    return bytes(out)


@dataclass(frozen=True)
class JoinProbe:
    """A joined table as incremental runs watch it: a content hash per join key.

    ``content`` yields (join key as text, hash of the columns the mapping reads);
    ``base_ref`` is the base table's join column, tested against the changed keys.
    """

    alias: str
    table: str
    key: str  # the joined table's join column
    base_ref: str  # SQL of the base table's join column
    columns: tuple[str, ...]  # the joined table's columns the mapping reads

    def content_sql(self) -> str:
        a = ident(self.alias)
        cols = ", ".join(f"{a}.{ident(c)}" for c in self.columns)
        return (f"SELECT {a}.{ident(self.key)}::text, hashtextextended(ROW({cols})::text, 0) "
                f"FROM {ident(self.table)} AS {a}")


@dataclass(frozen=True)
class SideSql:
    """One side's projection and the pieces the adapter assembles queries from."""

    source: str  # FROM clause: base table, joins, fan-out
    select: tuple[str, ...]  # k0.., c0.., changed_at from raw columns
    key_raw: tuple[str, ...]  # key expressions on raw columns, for index-friendly ranges
    key_kinds: tuple[str, ...]
    column_names: tuple[str, ...]
    enc: str  # canonical row encoding over the projection's k*/c* columns
    digest: str = "0"  # chained 64-bit row hash over the projection's k*/c* columns
    # Incremental runs (reconcile.incremental): the base table's row-version hash, the
    # FROM clause without joins (base table and legs) it is summed over, the joins whose
    # read columns are content-hashed, and why incremental is impossible (None: possible).
    fp: str = "0::bigint"
    base_source: str = ""
    joins: tuple[JoinProbe, ...] = ()
    relations: tuple[str, ...] = ()
    no_incremental: str | None = "not compiled for incremental runs"

    def projection(self, where: str | None = None) -> str:
        """SELECT k0.., c0.., changed_at, enc, digest, with ``where`` on the raw rows.

        The filter goes inside, on raw columns, so ranges become index range scans.
        PostgreSQL pulls the subquery up, so outputs a query does not use (``enc``
        when it sums ``digest``, the texts when it only counts) are never computed.
        """
        n_keys, n_cols = len(self.key_kinds), len(self.column_names)
        cols = [f"k{i}" for i in range(n_keys)] + [f"c{i}" for i in range(n_cols)]
        inner = f"SELECT {', '.join(self.select)}, {self.fp} AS fp FROM {self.source}"
        if where:
            inner += f" WHERE {where}"
        return (f"SELECT {', '.join(cols)}, changed_at, {self.enc} AS enc, "
                f"{self.digest} AS digest, fp FROM ({inner}) AS p")

    def key_cols(self, prefix: str = "s.") -> list[str]:
        return [f"{prefix}k{i}" for i in range(len(self.key_kinds))]

    @property
    def native_bucket(self) -> bool:
        return self.key_kinds == ("int",)

    def raw_key_tuple(self) -> str:
        return _tuple(list(self.key_raw))

    def sortkey_sql(self, prefix: str = "s.") -> str:
        parts = []
        for i, kind in enumerate(self.key_kinds):
            col = f"{prefix}k{i}"
            if kind == "int":
                parts.append(f"int8send({col} # (-9223372036854775808)::bigint)")
            else:
                parts.append(f"convert_to({col}, 'UTF8') || '\\x00'::bytea")
        return " || ".join(parts)

    def array_types(self) -> list[str]:
        return ["bigint[]" if k == "int" else "text[]" for k in self.key_kinds]


def _tuple(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "(" + ", ".join(items) + ")"


def compile_side(checked: CheckedComparison, side: str) -> SideSql:
    comparison = checked.comparison
    spec: SideSpec = getattr(comparison, side)
    select = []
    key_raw = []
    for i, (column, kind) in enumerate(zip(comparison.key, checked.key_kinds, strict=True)):
        raw = _expr(checked, side, getattr(column, side))
        raw = raw if kind == "int" else f'({raw})::text COLLATE "C"'
        key_raw.append(raw)
        native = f"({raw})::bigint" if kind == "int" else raw
        select.append(f"{native} AS k{i}")
    for i, column in enumerate(comparison.columns):
        value = _expr(checked, side, getattr(column, side))
        select.append(f"{_canonical(value, checked.kinds[column.name])} AS c{i}")
    changed = ref_sql(spec.changed_at) if spec.changed_at else "NULL::timestamptz"
    select.append(f"{changed} AS changed_at")
    source = f"{ident(spec.table)} AS {ident(spec.alias)}"
    for join in spec.joins:
        on = " AND ".join(f"{ref_sql(a)} = {ref_sql(b)}" for a, b in join.on)
        source += f" JOIN {ident(join.table)} AS {ident(join.alias)} ON {on}"
    if spec.legs:
        values = ", ".join(f"({literal(leg.name)}, {leg.sign})" for leg in spec.legs)
        source += f" CROSS JOIN LATERAL (VALUES {values}) AS {LEG_ALIAS}(name, sign)"
    n_keys, n_cols = len(comparison.key), len(comparison.columns)
    # Keys go into the encoding too: equal contents under two different keys must not cancel.
    pieces = [f"k{i}::text" for i in range(n_keys)] + [f"c{i}" for i in range(n_cols)]
    enc = f"ROW({', '.join(pieces)})::text"
    kinds = [checked.kinds[c.name].kind for c in comparison.columns]
    base = ident(spec.alias)
    base_source = f"{ident(spec.table)} AS {base}"
    if spec.legs:
        base_source += source[source.index(" CROSS JOIN LATERAL"):]
    probes, problem = _join_probes(checked, side)
    foreign = [ref for ref in _key_refs(checked, side)
               if ref.split(".")[0] not in (spec.alias, LEG_ALIAS)]
    if foreign:
        problem = f"key column {foreign[0]} comes from a joined table"
    return SideSql(source, tuple(select), tuple(key_raw), checked.key_kinds,
                   tuple(c.name for c in comparison.columns), enc,
                   digest(checked.key_kinds, kinds),
                   fp=f"hashint8extended({base}.xmin::text::bigint, "
                      f"hashtidextended({base}.ctid, 0))",
                   base_source=base_source, joins=probes,
                   relations=tuple(spec.aliases.values()), no_incremental=problem)


def _key_refs(checked: CheckedComparison, side: str) -> list[str]:
    return [ref for column in checked.comparison.key
            for ref in getattr(column, side).references()]


def _side_refs(checked: CheckedComparison, side: str) -> set[str]:
    """Every column reference the mapping makes on ``side``."""
    comparison = checked.comparison
    spec: SideSpec = getattr(comparison, side)
    refs = set(_key_refs(checked, side))
    for column in comparison.columns:
        refs.update(getattr(column, side).references())
    if spec.changed_at:
        refs.add(spec.changed_at)
    for join in spec.joins:
        refs.update(ref for pair in join.on for ref in pair)
    return refs


def _join_probes(checked: CheckedComparison, side: str) -> tuple[tuple[JoinProbe, ...],
                                                                   str | None]:
    """How incremental runs watch each join; a join they cannot watch is a reason to refuse."""
    spec: SideSpec = getattr(checked.comparison, side)
    refs = _side_refs(checked, side)
    probes = []
    for join in spec.joins:
        if len(join.on) != 1 or join.on[0][0].split(".")[0] != spec.alias:
            return (), (f"the join to {join.table} is not on one column of the base table "
                        f"{spec.table}")
        base_ref, joined_ref = join.on[0]
        columns = sorted({r.split(".")[1] for r in refs if r.split(".")[0] == join.alias})
        probes.append(JoinProbe(join.alias, join.table, joined_ref.split(".")[1],
                                ref_sql(base_ref), tuple(columns)))
    return tuple(probes), None


# Kinds whose canonical text is never '' (see _canonical), so NULL can hash as ''.
_NEVER_EMPTY = frozenset({"int", "decimal", "timestamp", "bool"})


def digest(key_kinds: Sequence[str], column_kinds: Sequence[str]) -> str:
    """The chained row hash over projected keys ``k*`` and canonical texts ``c*``."""
    chain = "0"
    for i, kind in enumerate(key_kinds):  # keys are NOT NULL (the checker insists)
        if kind == "int":
            chain = (f"hashint8extended(k{i} >> 32, "
                     f"hashint8extended(k{i} & 4294967295, {chain}))")
        else:
            chain = f'hashtextextended(k{i} COLLATE "C", {chain})'
    for i, kind in enumerate(column_kinds):
        value = f"c{i}" if kind in _NEVER_EMPTY else f"(c{i} || '~')"
        chain = f"hashtextextended(coalesce({value} COLLATE \"C\", ''), {chain})"
    return chain


def _canonical(value: str, kind: Kind) -> str:
    if kind.kind == "int":
        return f"({value})::bigint::text"
    if kind.kind == "decimal":
        return f"round(({value})::numeric, {kind.scale})::text"
    if kind.kind == "timestamp":
        # UTC, ISO (SESSION_SETUP); 3x cheaper than to_char, same text on both sides.
        return f"(({value}) AT TIME ZONE 'UTC')::text"
    return f"({value})::text"


def _codes(checked: CheckedComparison, side: str, ref: str, name: str) -> str:
    table = _code_table(checked, name)
    column = ref_sql(ref)
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in table.items())
    # An unmapped code shows as '?<code>' so it surfaces as a mismatch rather than a NULL.
    return f"(CASE {column} {whens} ELSE '?' || {column}::text END)"


def _code_table(checked: CheckedComparison, name: str) -> MappingABC[Code, str]:
    return checked.code_maps[name]


def _expr(checked: CheckedComparison, side: str, expr: Expr) -> str:
    if expr.by_leg:
        whens = " ".join(f"WHEN {literal(leg)} THEN {_template(checked, side, text)}"
                         for leg, text in expr.by_leg)
        return f"(CASE {LEG_ALIAS}.name {whens} END)"
    if expr.template is not None:
        return _template(checked, side, expr.template)
    assert expr.column is not None
    if expr.codes:
        return _codes(checked, side, expr.column, expr.codes)
    value = ref_sql(expr.column)
    if expr.empty_as_null:
        value = f"nullif({value}, '')"
    if expr.unit:
        # Multiplying by 0.01 gives exactly 2 decimal places, cheaper than dividing by 100.
        value = f"({value} * 0.{'0' * (UNITS[expr.unit] - 1)}1)"
    if len(expr.negative_when) == 1:
        c = expr.negative_when[0]
        values = ", ".join(literal(v) for v in c.values)
        value = f"(CASE WHEN {ref_sql(c.column)} IN ({values}) THEN -{value} ELSE {value} END)"
    elif expr.negative_when:
        flips = " + ".join(
            f"(CASE WHEN {ref_sql(c.column)} IN ({', '.join(literal(v) for v in c.values)}) "
            "THEN 1 ELSE 0 END)" for c in expr.negative_when)
        value = f"(CASE WHEN ({flips}) % 2 = 1 THEN -({value}) ELSE {value} END)"
    return value


def _template(checked: CheckedComparison, side: str, template: str) -> str:
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > position:
            parts.append(literal(template[position:match.start()]))
        ref, code_map = match.group(1), match.group(2)
        parts.append(_codes(checked, side, ref, code_map) if code_map
                     else f"{ref_sql(ref)}::text")
        position = match.end()
    if position < len(template):
        parts.append(literal(template[position:]))
    return "(" + " || ".join(parts or ["''"]) + ")"
