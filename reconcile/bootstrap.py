"""One wiring point: mapping file + two database URLs → checked comparisons → run results."""

from __future__ import annotations

from pathlib import Path

import psycopg

from reconcile.adapters.postgres import PostgresSide, read_catalog
from reconcile.check import CheckedComparison, check_mapping
from reconcile.engine import Engine, Options
from reconcile.errors import SideUnavailableError
from reconcile.incremental import Baseline
from reconcile.mapping import Mapping, load_mapping
from reconcile.result import RunResult
from reconcile.sql import compile_side


def check_against(mapping: Mapping, legacy_url: str, extracted_url: str) -> tuple[
        CheckedComparison, ...]:
    """Read both catalogues and check the mapping; raises MappingError before any run."""
    catalogs = []
    for side, url in (("legacy", legacy_url), ("extracted", extracted_url)):
        tables = {t for c in mapping.comparisons for t in getattr(c, side).aliases.values()}
        try:
            with psycopg.connect(url) as conn:
                catalogs.append(read_catalog(conn, tables))
        except psycopg.Error as exc:
            raise SideUnavailableError(side, str(exc).strip()) from exc
    return check_mapping(mapping, catalogs[0], catalogs[1])


def sides_for(checked: CheckedComparison, legacy_url: str, extracted_url: str,
              row_hash: str = "chained") -> tuple[PostgresSide, PostgresSide]:
    made = []
    for side, url in (("legacy", legacy_url), ("extracted", extracted_url)):
        spec = getattr(checked.comparison, side)
        made.append(PostgresSide(side, url, compile_side(checked, side), spec.table,
                                 max(1, len(spec.legs)), row_hash))
    return made[0], made[1]


def run_comparison(checked: CheckedComparison, legacy_url: str, extracted_url: str,
                   options: Options | None = None, row_hash: str = "chained", *,
                   baseline: Baseline | None = None, keep: bool = False,
                   label: str = "") -> RunResult:
    """Run one comparison; ``row_hash`` names a :data:`reconcile.sql.ROW_HASHES` entry.

    With ``baseline`` the run is incremental where that is provably safe (else full, and
    ``result.coverage`` says why); with ``keep`` it returns its clean segments, labelled
    ``label``, in ``result.baseline`` for the next run.
    """
    legacy, extracted = sides_for(checked, legacy_url, extracted_url, row_hash)
    try:
        return Engine(checked, legacy, extracted, options, baseline=baseline, keep=keep,
                      label=label, row_hash=row_hash).run()
    finally:
        legacy.close()
        extracted.close()


def reconcile(mapping_path: Path | str, legacy_url: str, extracted_url: str,
              options: Options | None = None) -> list[RunResult]:
    """Check the mapping against both databases, then run every comparison in it."""
    checked = check_against(load_mapping(mapping_path), legacy_url, extracted_url)
    return [run_comparison(c, legacy_url, extracted_url, options) for c in checked]
