"""``python -m monolith.seed --transactions N --database-url URL``: seed from a shell."""

from __future__ import annotations

import argparse
import os
import sys

from monolith.seed import SeedError, seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monolith.seed", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("STRANGLER_MONOLITH_DATABASE_URL"),
                        help="target database (default: $STRANGLER_MONOLITH_DATABASE_URL)")
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--merchants", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reset", action="store_true", help="truncate PayStream tables first")
    parser.add_argument("--bulk-checks", action="store_true",
                        help="row triggers off, foreign keys checked set-based (superuser)")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("no database: pass --database-url or set STRANGLER_MONOLITH_DATABASE_URL")
    try:
        report = seed(args.database_url, transactions=args.transactions, merchants=args.merchants,
                      seed=args.seed, reset=args.reset, bulk_checks=args.bulk_checks)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for table, count in report.counts.items():
        print(f"{table:<24} {count:>10,}")
    print(f"{report.seconds:.2f}s, {report.rows_per_second:,.0f} rows/s "
          f"(foreign keys checked {report.foreign_key_checks})")
    for index, key in enumerate(report.api_keys, start=1):
        print(f"merchant {index}: {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
