"""PostgreSQL adapter: read a catalogue, and serve one side of a comparison to the engine.

Each :class:`PostgresSide` owns one connection (opened lazily, never at import),
runs read-only in one REPEATABLE READ snapshot so all levels of a run see the same
data, and maps psycopg errors to :class:`SideUnavailableError` at this edge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

from reconcile.check import ColumnInfo, TableInfo
from reconcile.compare import Row
from reconcile.errors import SideUnavailableError
from reconcile.incremental import MOD, Probe, SideBasis
from reconcile.segments import Checksum, Segment
from reconcile.sql import ROW_HASHES, SESSION_SETUP, Key, SideSql, sortkey

_CATALOG_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod > 0
            THEN (a.atttypmod - 4) & 65535 END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = current_schema()
  AND c.relname = ANY(%s)
ORDER BY c.relname, a.attnum
"""

_UNIQUE_SQL = """
SELECT c.relname, array_agg(a.attname ORDER BY a.attname)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisunique AND i.indpred IS NULL AND n.nspname = current_schema()
  AND c.relname = ANY(%s)
GROUP BY c.relname, i.indexrelid
"""


def read_catalog(conn: psycopg.Connection[Any], tables: Iterable[str]) -> dict[str, TableInfo]:
    """The columns and unique keys of ``tables`` (those that exist) in the current schema."""
    names = sorted(set(tables))
    columns: dict[str, dict[str, ColumnInfo]] = {}
    for table, name, type_name, nullable, scale in conn.execute(_CATALOG_SQL, (names,)):
        columns.setdefault(table, {})[name] = ColumnInfo(name, type_name, nullable, scale)
    uniques: dict[str, list[frozenset[str]]] = {}
    for table, cols in conn.execute(_UNIQUE_SQL, (names,)):
        uniques.setdefault(table, []).append(frozenset(cols))
    return {t: TableInfo(t, cols, tuple(uniques.get(t, ()))) for t, cols in columns.items()}

# What must not change under a stored fingerprint: the relations' storage (relfilenode
# changes on every rewrite: VACUUM FULL, CLUSTER, TRUNCATE, ALTER COLUMN TYPE), their
# kinds and column types/collations, and which database and cluster this is.
_IDENTITY_SQL = """
SELECT c.relname, c.relkind::text, c.relfilenode::text,
       coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                   || ':' || a.attcollation::text, ',' ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%(t)s)
ORDER BY c.relname
"""
_DATABASE_SQL = """
SELECT d.oid::text, CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
                         THEN (SELECT system_identifier::text FROM pg_control_system())
                         ELSE '' END
FROM pg_database d WHERE d.datname = current_database()
"""
_COLUMN_TYPE_SQL = """
SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = %(t)s::regclass AND a.attname = %(c)s
"""


class PostgresSide:
    def __init__(self, name: str, url: str, sql: SideSql, base_table: str,
                 fan_out: int = 1, row_hash: str = "chained") -> None:
        self.name = name
        self.url = url
        self.sql = sql
        self.base_table = base_table
        self.fan_out = fan_out
        self.row_hash = ROW_HASHES[row_hash]
        self._conn: psycopg.Connection[Any] | None = None
        self._join_types: dict[str, str] = {}

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self.url, application_name=f"reconcile-{self.name}")
                self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                self._conn.execute(SESSION_SETUP)
                # Both sides run at once, typically one core each: parallel workers only
                # contend, and JIT compile time is not repaid on these expressions (measured).
                self._conn.execute("SET jit = off")
                self._conn.execute("SET max_parallel_workers_per_gather = 0")
            except psycopg.Error as exc:
                raise SideUnavailableError(self.name, str(exc).strip()) from exc
        return self._conn

    def refresh(self) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fetch(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        conn = self._connection()
        try:
            return conn.execute(query.encode(), params).fetchall()
        except psycopg.Error as exc:
            raise SideUnavailableError(self.name, str(exc).strip()) from exc

    def _execute(self, statement: str) -> None:
        try:
            self._connection().execute(statement.encode())
        except psycopg.Error as exc:
            raise SideUnavailableError(self.name, str(exc).strip()) from exc

    def estimate_rows(self) -> int:
        rows = self._fetch("SELECT reltuples::bigint FROM pg_class WHERE oid = %(t)s::regclass",
                           {"t": self.base_table})
        estimate = int(rows[0][0]) if rows else -1
        if estimate < 0:  # never analysed: count the base table once rather than guess
            estimate = int(self._fetch(f'SELECT count(*) FROM "{self.base_table}"')[0][0])
        return estimate * self.fan_out

    def bounds(self) -> tuple[Key, Key] | None:
        keys = ", ".join(self.sql.key_raw)
        first = self._fetch(f"SELECT {keys} FROM {self._source()} ORDER BY {keys} LIMIT 1")
        if not first:
            return None
        desc = ", ".join(f"{k} DESC" for k in self.sql.key_raw)
        last = self._fetch(f"SELECT {keys} FROM {self._source()} ORDER BY {desc} LIMIT 1")
        return tuple(first[0]), tuple(last[0])

    def _source(self, source: str | None = None) -> str:
        return (self.sql.source if source is None else source).replace("%", "%%")

    def _ranged(self, ranges: Sequence[Segment], select: str, tail: str = "",
                extra: dict[str, Any] | None = None, extra_cols: str = "") -> tuple[str, dict[
                    str, Any]]:
        """``select`` over the projection restricted to ``ranges``, index-friendly."""
        n = len(self.sql.key_kinds)
        key = self.sql.raw_key_tuple()
        params: dict[str, Any] = dict(extra or {})
        if len(ranges) == 1 and not extra_cols:
            # One range: literal bounds let the planner choose (a whole-table range scans
            # sequentially; a narrow one uses the index).
            lo, hi = _tup(n, "lo"), _tup(n, "hi")
            where = f"{key} >= {lo} AND {key} <= {hi} AND ({key} < {hi} OR %(incl)s)"
            for i in range(n):
                params[f"lo{i}"], params[f"hi{i}"] = ranges[0].lo[i], ranges[0].hi[i]
            params["incl"] = ranges[0].hi_inclusive
            proj = self.sql.projection(where.replace("%(", "\x00")).replace("%", "%%")
            proj = proj.replace("\x00", "%(")
            return f"SELECT {select} FROM ({proj}) AS s {tail}", params
        # Many ranges: a lateral scan per range, each an index range scan.
        types = self.sql.array_types()
        cols = [f"%(lo{i})s::{types[i]}" for i in range(n)] + \
               [f"%(hi{i})s::{types[i]}" for i in range(n)] + ["%(incl)s::boolean[]"]
        names = [f"lo{i}" for i in range(n)] + [f"hi{i}" for i in range(n)] + ["incl"]
        if extra_cols:
            cols.append(f"%({extra_cols})s::int[]")
            names.append(extra_cols)
        for i in range(n):
            params[f"lo{i}"] = [r.lo[i] for r in ranges]
            params[f"hi{i}"] = [r.hi[i] for r in ranges]
        params["incl"] = [r.hi_inclusive for r in ranges]
        lo = _tup(n, "lo", lateral=True)
        hi = _tup(n, "hi", lateral=True)
        where = f"{key} >= {lo} AND {key} <= {hi} AND ({key} < {hi} OR r.incl)"
        proj = self.sql.projection(where).replace("%", "%%")
        query = (f"SELECT {select} FROM unnest({', '.join(cols)}) WITH ORDINALITY "
                 f"AS r({', '.join(names)}, i) CROSS JOIN LATERAL ({proj}) AS s {tail}")
        return query, params

    def _bucket(self, children: Sequence[Segment]) -> tuple[str, dict[str, Any]]:
        """``width_bucket`` over the children's lower bounds: bucket b is children[b-1]."""
        th: list[Any]
        if self.sql.native_bucket:
            operand, th, cast = "s.k0", [c.lo[0] for c in children], "bigint[]"
        else:
            operand = self.sql.sortkey_sql()
            th, cast = [sortkey(c.lo, self.sql.key_kinds) for c in children], "bytea[]"
        return f"width_bucket({operand}, %(th)s::{cast}) AS b", {"th": th}

    def _grouped(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # The planner cannot tell how many buckets width_bucket yields and assumes one per
        # row, so on a large table it sorts every row to group them (measured: a quarter
        # or more of a 10M-row pass's CPU). There are at most len(children) buckets, which
        # a hash table holds.
        # SET LOCAL: a failed query aborts the transaction, which undoes the setting too.
        self._execute("SET LOCAL enable_sort = off")
        found = self._fetch(query, params)
        self._execute("SET LOCAL enable_sort TO DEFAULT")
        return found

    def checksums(self, parents: Sequence[Segment],
                  children: Sequence[Segment]) -> dict[int, Checksum]:
        bucket, extra = self._bucket(children)
        select = f"{bucket}, count(*), coalesce(sum({self.row_hash}), 0)"
        query, params = self._ranged(parents, select, "GROUP BY b", extra)
        return {int(b): (int(n), int(h)) for b, n, h in self._grouped(query, params)}

    def checksums_fp(self, parents: Sequence[Segment],
                     children: Sequence[Segment]) -> dict[int, tuple[int, int, int]]:
        """Checksums and, from the same snapshot and scan, the fingerprints to keep."""
        bucket, extra = self._bucket(children)
        select = (f"{bucket}, count(*), coalesce(sum({self.row_hash}), 0), "
                  "coalesce(sum(s.fp), 0)")
        query, params = self._ranged(parents, select, "GROUP BY b", extra)
        return {int(b): (int(n), int(h), int(f) % MOD)
                for b, n, h, f in self._grouped(query, params)}

    def basis(self) -> SideBasis:
        """This side's identity and joined-table contents, in the run's snapshot."""
        if self.sql.no_incremental:
            return SideBasis(None, self.sql.no_incremental)
        relations = self._fetch(_IDENTITY_SQL, {"t": list(self.sql.relations)})
        for name, kind, _, _ in relations:
            if kind != "r":
                what = {"v": "a view", "m": "a materialized view", "f": "a foreign table",
                        "p": "a partitioned table"}.get(kind, f"of kind {kind}")
                return SideBasis(None, f"{name} is {what}: its rows have no stable identity")
        database = self._fetch(_DATABASE_SQL)
        identity = repr((database, relations))
        joined = {}
        for probe in self.sql.joins:
            joined[probe.alias] = {str(k): int(h) for k, h in self._fetch(probe.content_sql())}
            self._join_types[probe.alias] = str(self._fetch(
                _COLUMN_TYPE_SQL, {"t": probe.table, "c": probe.key})[0][0])
        return SideBasis(hashlib.sha256(identity.encode()).hexdigest(), "", joined)

    def fingerprints(self, root: Segment, children: Sequence[Segment],
                     changed: Mapping[str, Sequence[str]]) -> dict[int, Probe]:
        """(count, row-version hash sum, rows joining a changed key) per child, base table only.

        Reads ``xmin`` and ``ctid`` of the base table and its key columns, nothing else:
        no join, no canonical text, no row hash (``basis`` watches the joins).
        """
        n = len(self.sql.key_kinds)
        params: dict[str, Any] = {}
        touched = []
        for i, probe in enumerate(self.sql.joins):
            keys = list(changed.get(probe.alias, ()))
            if keys:
                params[f"j{i}"] = keys
                kind = self._join_types[probe.alias]
                touched.append(f"{probe.base_ref} = ANY(%(j{i})s::text[]::{kind}[])")
        hit = f"(CASE WHEN {' OR '.join(touched)} THEN 1 ELSE 0 END)" if touched else "0"
        keys = [f"{raw} AS k{i}" for i, raw in enumerate(self.sql.key_raw)]
        key = self.sql.raw_key_tuple()
        lo, hi = _tup(n, "lo"), _tup(n, "hi")
        for i in range(n):
            params[f"lo{i}"], params[f"hi{i}"] = root.lo[i], root.hi[i]
        params["incl"] = root.hi_inclusive
        inner = (f"SELECT {', '.join(keys)}, {self.sql.fp} AS fp, {hit} AS hit "
                 f"FROM {self._source(self.sql.base_source)} "
                 f"WHERE {key} >= {lo} AND {key} <= {hi} AND ({key} < {hi} OR %(incl)s)")
        bucket, extra = self._bucket(children)
        params.update(extra)
        query = (f"SELECT {bucket}, count(*), coalesce(sum(s.fp), 0), coalesce(sum(s.hit), 0) "
                 f"FROM ({inner}) AS s GROUP BY b")
        return {int(b): (int(c), int(f) % MOD, int(h))
                for b, c, f, h in self._grouped(query, params)}

    def sample(self, parents: Sequence[Segment], steps: Sequence[int]) -> list[list[Key]]:
        keys = ", ".join(self.sql.key_cols())
        order = self.sql.sortkey_sql()
        query, params = self._ranged(
            parents, f"r.i, {keys}, row_number() OVER (PARTITION BY r.i ORDER BY {order}) AS rn",
            extra={"step": list(steps)}, extra_cols="step")
        query = f"SELECT * FROM ({query}) AS q WHERE q.rn %% q.step = 0"
        query = query.replace("r.i, ", "r.i, r.step, ", 1)
        out: list[list[Key]] = [[] for _ in parents]
        n = len(self.sql.key_kinds)
        for row in self._fetch(query, params):
            out[int(row[0]) - 1].append(tuple(row[2:2 + n]))
        return out

    def rows(self, ranges: Sequence[Segment]) -> list[Row]:
        n, m = len(self.sql.key_kinds), len(self.sql.column_names)
        cols = ", ".join(self.sql.key_cols() + [f"s.c{i}" for i in range(m)] + ["s.changed_at"])
        query, params = self._ranged(ranges, cols)
        return [Row(tuple(r[:n]), tuple(r[n:n + m]), r[n + m]) for r in self._fetch(query, params)]


def _tup(n: int, name: str, lateral: bool = False) -> str:
    items = [f"r.{name}{i}" if lateral else f"%({name}{i})s" for i in range(n)]
    return items[0] if n == 1 else "ROW(" + ", ".join(items) + ")"
