"""Benchmark: reconcile a 10-million-row legacy ledger against its extracted copy.

One command (from the repo root):

    /work/venv/bin/python bench/reconcile_bench.py            # 10M rows
    /work/venv/bin/python bench/reconcile_bench.py --rows 200000   # a quick look
    /work/venv/bin/python bench/reconcile_bench.py --rows 1000000 --skip-naive \
        --compare-row-hash hashtextextended    # the chained digest vs the whole-record hash
    /work/venv/bin/python bench/reconcile_bench.py --rows 1000000 --incremental
        # second night: a full run keeping its clean segments, then an incremental run on
        # the unchanged table, then one after an UPDATE and a DELETE in clean segments

Starts its own embedded PostgreSQL (free port, temporary directory), builds the two
databases with generate_series, then runs, each in a fresh child process so peak RSS
is per phase: a clean bisection run; a run with 0.01 % planted differences (checked
against the planted set: every one found, nothing else); the naive baseline (stream
both sides ordered by key, compare in Python) on the same planted data; and a clean
run on a table 10x smaller, to show client memory does not grow with table size.
Prints a rich table and writes bench/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from strangler.stack.net import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from strangler.stack.postgres import EmbeddedPostgres  # noqa: E402


def build(server: EmbeddedPostgres, suffix: str, rows: int) -> tuple[str, str]:
    import psycopg

    from tests.reconcile import ledger_fixture

    urls = []
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for side in ("legacy", "extracted"):
            name = f"bench_{side}_{suffix}"
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
            urls.append(server.url(name))
    ledger_fixture.build_legacy(urls[0], rows)
    ledger_fixture.build_extracted(urls[1], rows, entries=False)
    return urls[0], urls[1]


def plant(legacy: str, extracted: str, rows: int, fraction: float) -> set[tuple[str, int]]:
    """Plant ``fraction`` of rows as differences of four kinds, spread over the key range."""
    from tests.reconcile.ledger_fixture import execute

    count = max(4, int(rows * fraction))
    stride = rows // count
    ids = [1 + i * stride + (i * 37) % max(1, stride) for i in range(count)]
    kinds = {"missing_in_extracted": ids[0::4], "missing_in_legacy": ids[1::4],
             "amount": ids[2::4], "currency": ids[3::4]}
    execute(extracted, "DELETE FROM ledger_transaction WHERE id = ANY(%s)",
            (kinds["missing_in_extracted"],))
    execute(legacy, "DELETE FROM wallets_transaction WHERE id = ANY(%s)",
            (kinds["missing_in_legacy"],))
    execute(extracted, "UPDATE ledger_transaction SET amount = amount + 0.01 WHERE id = ANY(%s)",
            (kinds["amount"],))
    execute(extracted, "UPDATE ledger_transaction SET currency = CASE currency WHEN 'INR' "
                       "THEN 'USD' ELSE 'INR' END WHERE id = ANY(%s)", (kinds["currency"],))
    for url in (legacy, extracted):
        execute(url, "VACUUM ANALYZE")
    expected = {("missing_in_extracted", i) for i in kinds["missing_in_extracted"]}
    expected |= {("missing_in_legacy", i) for i in kinds["missing_in_legacy"]}
    expected |= {("mismatch", i) for i in kinds["amount"] + kinds["currency"]}
    return expected


def _phase(kind: str, legacy: str, extracted: str, queue: Any,
           row_hash: str = "chained", baseline: dict[str, Any] | None = None) -> None:
    """Child process: one phase, reporting its time, findings and peak RSS."""
    from reconcile import incremental
    from reconcile.bootstrap import check_against, run_comparison
    from reconcile.mapping import load_mapping
    from reconcile.mappings import LEDGER
    from reconcile.naive import naive_compare

    checked = check_against(load_mapping(LEDGER), legacy, extracted)[0]
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "naive":
        counts: dict[str, int] = {}
        found = naive_compare(checked, legacy, extracted, None, counts)
        out["rows"] = counts.get("legacy", 0)
        out["status"] = "breaks" if found else "clean"
    else:
        kept = incremental.from_json(baseline) if baseline else None
        result = run_comparison(checked, legacy, extracted, row_hash=row_hash,
                                baseline=kept, keep=kind == "keep" or kept is not None,
                                label=kind)
        found = result.discrepancies
        out["coverage"] = result.coverage.as_json()
        if result.baseline is not None:
            out["baseline"] = incremental.to_json(result.baseline)
        out["rows"] = result.legacy.rows
        out["status"] = result.status
        out["stats"] = vars(result.stats)
        out["checksums"] = [result.legacy.checksum, result.extracted.checksum]
    out["seconds"] = time.perf_counter() - started
    out["found"] = sorted((d.category, int(d.key[0])) for d in found)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(out)


def run_phase(kind: str, legacy: str, extracted: str, row_hash: str = "chained",
              baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_phase, args=(kind, legacy, extracted, queue, row_hash,
                                               baseline))
    process.start()
    out: dict[str, Any] = queue.get()
    process.join()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--fraction", type=float, default=0.0001)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--compare-row-hash", default="", metavar="NAME",
                        help="also run the clean phase with this row hash (e.g. "
                             "hashtextextended, the whole-record hash) for a before/after")
    parser.add_argument("--incremental", action="store_true",
                        help="only the second-night phases: full run keeping its segments, "
                             "incremental run on the unchanged table, and after a change")
    args = parser.parse_args()
    console = Console()
    data = Path(tempfile.mkdtemp(prefix="reconcile-bench-")) / "data"
    server = EmbeddedPostgres(data, free_port())
    server.start()
    results: dict[str, Any] = {"rows": args.rows, "fraction": args.fraction, "phases": {}}
    try:
        t0 = time.perf_counter()
        with console.status(f"building {args.rows:,} rows per side"):
            legacy, extracted = build(server, "full", args.rows)
            if not args.incremental:
                small = build(server, "small", max(1000, args.rows // 10))
        results["build_seconds"] = time.perf_counter() - t0
        phases = results["phases"]
        if args.incremental:
            second_night(results, legacy, extracted, args.rows, console)
            return report(results, console, args.rows, "reconcile_incremental.json")
        with console.status("clean run"):
            phases["bisect_clean"] = run_phase("bisect", legacy, extracted)
        if args.compare_row_hash:
            # The previous row hash (whole record text) on the same data, same invocation.
            with console.status(f"clean run, {args.compare_row_hash} row hash"):
                phases[f"bisect_clean_{args.compare_row_hash}"] = run_phase(
                    "bisect", legacy, extracted, args.compare_row_hash)
        with console.status("clean run, 1/10 of the rows"):
            phases["bisect_clean_tenth"] = run_phase("bisect", *small)
        planted = plant(legacy, extracted, args.rows, args.fraction)
        with console.status(f"planted run ({len(planted)} differences)"):
            phases["bisect_planted"] = run_phase("bisect", legacy, extracted)
        if not args.skip_naive:
            with console.status("naive baseline on the planted data"):
                phases["naive_planted"] = run_phase("naive", legacy, extracted)
        expected = sorted(planted)
        for name, phase in phases.items():
            phase["rows_per_second"] = phase["rows"] / phase["seconds"]
            found = [tuple(f) for f in phase.pop("found")]
            phase["discrepancies"] = len(found)
            if "planted" in name:
                phase["planted"] = len(expected)
                phase["all_planted_found"] = set(expected) <= set(found)
                phase["false_positives"] = len(set(found) - set(expected))
    finally:
        server.stop()
    return report(results, console, args.rows, "reconcile.json")


def second_night(results: dict[str, Any], legacy: str, extracted: str, rows: int,
                 console: Console) -> None:
    """Full run keeping its clean segments; incremental on the unchanged table; after a change."""
    from tests.reconcile.ledger_fixture import execute

    phases = results["phases"]
    with console.status("full run, keeping clean segments"):
        phases["full_plain"] = run_phase("bisect", legacy, extracted)
        phases["full_keep"] = run_phase("keep", legacy, extracted)
    baseline = phases["full_keep"].pop("baseline")
    with console.status("second night, nothing changed"):
        phases["incremental_unchanged"] = run_phase("incremental", legacy, extracted,
                                                    baseline=baseline)
    phases["incremental_unchanged"].pop("baseline", None)
    updated, deleted = rows // 8 + 1, rows * 2 // 3 + 1
    execute(legacy, "UPDATE wallets_transaction SET amount = amount + 1 WHERE id = %s",
            (updated,))
    execute(extracted, "DELETE FROM ledger_transaction WHERE id = %s", (deleted,))
    with console.status("second night, after an UPDATE and a DELETE"):
        phases["incremental_changed"] = run_phase("incremental", legacy, extracted,
                                                  baseline=baseline)
    phases["incremental_changed"].pop("baseline", None)
    expected = {("mismatch", updated), ("missing_in_extracted", deleted)}
    for phase in phases.values():
        phase["rows_per_second"] = phase["rows"] / phase["seconds"]
        found = {tuple(f) for f in phase.pop("found")}
        phase["discrepancies"] = len(found)
    phases["incremental_changed"]["planted"] = len(expected)
    phases["incremental_changed"]["all_planted_found"] = expected <= found
    phases["incremental_changed"]["false_positives"] = len(found - expected)
    results["ratio_full_over_incremental"] = (phases["full_keep"]["seconds"]
                                              / phases["incremental_unchanged"]["seconds"])


def report(results: dict[str, Any], console: Console, rows: int, filename: str) -> int:
    table = Table(title=f"reconcile: {rows:,}-row ledger, 2 sides, one server")
    for column in ("phase", "rows", "seconds", "rows/s", "peak RSS MB", "status",
                   "found/planted", "false +"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for name, phase in results["phases"].items():
        table.add_row(name, f"{phase['rows']:,}", f"{phase['seconds']:.1f}",
                      f"{phase['rows_per_second']:,.0f}", f"{phase['peak_rss_mb']:.0f}",
                      phase["status"],
                      f"{phase['discrepancies']}/{phase.get('planted', 0)}",
                      str(phase.get("false_positives", "-")))
    console.print(table)
    for phase_name, phase in results["phases"].items():
        if "coverage" in phase:
            c = phase["coverage"]
            console.print(f"{phase_name}: {c['mode']}, {c['rechecked']} segments rechecked, "
                          f"{c['carried']} carried ({c['rows_carried']:,} rows): {c['reason']}",
                          highlight=False)
    if "ratio_full_over_incremental" in results:
        console.print(f"second night, unchanged: the full run took "
                      f"{results['ratio_full_over_incremental']:.1f}x the incremental run")
    out = ROOT / "bench" / "results" / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
