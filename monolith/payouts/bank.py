"""The fake bank that settles payouts. Pure: the outcome depends only on its inputs.

An account number ending with the failure suffix (``STRANGLER_BANK_FAILURE_SUFFIX``,
default ``0000``) is refused; every other payout is paid with a provider reference
derived from the payout id, so a redelivered settlement reports the same reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Settlement:
    paid: bool
    provider_ref: str = ""
    failure_reason: str = ""


@dataclass(frozen=True)
class FakeBank:
    failure_suffix: str = "0000"

    def settle(self, payout_id: int, account_number: str, amount: int) -> Settlement:
        if self.failure_suffix and account_number.endswith(self.failure_suffix):
            return Settlement(
                paid=False,
                failure_reason=f"Beneficiary bank rejected account ending {account_number[-4:]}.",
            )
        digest = hashlib.sha256(f"payout:{payout_id}:{amount}".encode()).hexdigest()[:12]
        return Settlement(paid=True, provider_ref=f"FB{payout_id:08d}{digest.upper()}")
