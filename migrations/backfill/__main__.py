"""``python -m migrations.backfill``: run a backfill without the control plane (and for tests)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from migrations.backfill.runner import BackfillOptions, run_backfill


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations.backfill")
    parser.add_argument("capability")
    parser.add_argument("--legacy-url", required=True)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--latency-bound-ms", type=float, default=50.0)
    parser.add_argument("--min-pause", type=float, default=0.0)
    args = parser.parse_args(argv)
    report = run_backfill(args.capability, args.legacy_url, args.ledger_url,
                          BackfillOptions(args.chunk_rows, args.latency_bound_ms, args.min_pause))
    print(f"copied {report.rows_now} rows in {report.chunks_now} chunks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
