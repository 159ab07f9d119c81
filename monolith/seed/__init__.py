"""Deterministic, realistic PayStream data for development, demos, load tests and benchmarks.

    from monolith.seed import seed
    report = seed("postgresql://...", transactions=1_000_000, merchants=10, seed=42)
    report.api_keys  # raw API keys of the seeded merchants, in merchant id order

Django-free: it writes the monolith's tables with PostgreSQL COPY, so it runs
from any process (CLI, tests, benchmarks) without configured settings.
"""

from monolith.seed.errors import SeedError
from monolith.seed.writer import STAFF_USERNAME, SeedReport, seed

__all__ = ["STAFF_USERNAME", "SeedError", "SeedReport", "seed"]
