"""Reconciliation settings, read when a run or a certificate needs them (never at import).

Until strangler.config carries them, these ``STRANGLER_RECONCILE_*`` variables are read here:

    LEGACY_URL         legacy database (default: the monolith's, STRANGLER_MONOLITH_DATABASE_URL)
    EXTRACTED_URL      extracted ledger database (default: the ledger service's,
                       STRANGLER_LEDGER_DATABASE_URL; unreachable or empty means incomplete)
    SIGNING_KEY        manifest HMAC key (default: derived from STRANGLER_SECRET_KEY)
    CERTIFICATE_RUNS   consecutive clean runs a PASS needs (default 7)
    FULL_EVERY         a comparison reads every row at least once in this many runs; the
                       runs between are incremental (default: CERTIFICATE_RUNS, so every
                       streak a PASS rests on holds a full run; 1: always full)
    HOLD_FILE          test seam: after each completed comparison, wait while this file exists
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reconcile.manifest import derive_key
from strangler.config import get_settings
from strangler.errors import ConfigError

PREFIX = "STRANGLER_RECONCILE_"
DEFAULT_CERTIFICATE_RUNS = 7


@dataclass(frozen=True)
class ReconcileConfig:
    legacy_url: str
    extracted_url: str | None
    signing_key: bytes
    certificate_runs: int
    hold_file: str | None
    full_every: int = 0  # 0: as certificate_runs

    @property
    def full_interval(self) -> int:
        return self.full_every or self.certificate_runs

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ReconcileConfig:
        env = os.environ if environ is None else environ
        settings = get_settings()
        runs_text = env.get(PREFIX + "CERTIFICATE_RUNS", "").strip() or str(DEFAULT_CERTIFICATE_RUNS)
        if not runs_text.isdigit() or int(runs_text) < 1:
            raise ConfigError(f"{PREFIX}CERTIFICATE_RUNS={runs_text!r} is not a whole number of at "
                              f"least 1. Set it (default {DEFAULT_CERTIFICATE_RUNS}) or unset it.")
        every = env.get(PREFIX + "FULL_EVERY", "").strip() or runs_text
        if not every.isdigit() or int(every) < 1:
            raise ConfigError(f"{PREFIX}FULL_EVERY={every!r} is not a whole number of at least 1. "
                              "Set it (1 = every run full; default CERTIFICATE_RUNS) or unset it.")
        key = env.get(PREFIX + "SIGNING_KEY", "").strip()
        return cls(
            legacy_url=env.get(PREFIX + "LEGACY_URL", "").strip() or settings.monolith_database_url,
            extracted_url=env.get(PREFIX + "EXTRACTED_URL", "").strip() or settings.ledger_database_url,
            signing_key=derive_key(key or settings.secret_key),
            certificate_runs=int(runs_text),
            hold_file=env.get(PREFIX + "HOLD_FILE", "").strip() or None,
            full_every=int(every),
        )
