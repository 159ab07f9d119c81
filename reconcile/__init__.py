"""Reconciliation of the legacy ledger against the extracted one, through a declared mapping.

    mapping   parse_mapping / load_mapping: TOML file -> Mapping (pure)
    check     check_mapping: Mapping + both catalogues -> CheckedComparison (pure)
    sql       compile_side: the canonical projection each side runs (pure)
    segments  bisection planning (pure);  compare: row-level comparison (pure)
    engine    Engine: checksum-and-bisect over two SideReaders, both sides concurrently
    incremental  kept clean segments, the skip rule and its change signal (pure)
    adapters  PostgresSide, read_catalog (psycopg)
    naive     the full ordered-merge baseline / oracle
    report    JSON and CSV;  bootstrap: mapping file + two URLs -> results
"""

from reconcile.bootstrap import check_against, reconcile, run_comparison
from reconcile.engine import Engine, Options
from reconcile.errors import MappingError, ReconcileError, SideUnavailableError
from reconcile.mapping import Mapping, load_mapping, parse_mapping
from reconcile.result import BREAKS, CLEAN, INCOMPLETE, RunResult

__all__ = [
    "BREAKS", "CLEAN", "INCOMPLETE", "Engine", "Mapping", "MappingError", "Options",
    "ReconcileError", "RunResult", "SideUnavailableError", "check_against", "load_mapping",
    "parse_mapping", "reconcile", "run_comparison",
]
