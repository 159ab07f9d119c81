"""Mapping files shipped with the toolkit, one per capability."""

from pathlib import Path

MAPPINGS_DIR = Path(__file__).parent
LEDGER = MAPPINGS_DIR / "ledger.toml"
