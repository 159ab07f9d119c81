"""The shape of a seeded data set, decided before any row is written (pure, no I/O).

Sizes follow from the requested transaction and merchant counts; API keys and
the staff password hash are derived here so that tests can recompute them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Columns written per table, in COPY order. Names are the legacy ones (see the migrations).
COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts_merchant": ("id", "name", "email", "is_active", "created_at"),
    "accounts_apikey": ("id", "merchant_id", "prefix", "key_hash", "created_at", "revoked_at"),
    "accounts_user": ("id", "merchant_id", "external_ref", "full_name", "email", "phone",
                      "kyc_status", "created_at", "updated_at"),
    "accounts_kycsubmission": ("id", "user_id", "document_type", "document_number", "status",
                               "reason", "reviewed_by_id", "submitted_at", "reviewed_at"),
    "payouts_bankaccount": ("id", "merchant_id", "user_id", "account_number", "ifsc",
                            "holder_name", "created_at"),
    "wallets_wallet": ("id", "merchant_id", "user_id", "currency", "balance", "status",
                       "limits_locked", "created_at", "updated_at"),
    "wallets_transaction": ("id", "wallet_id", "txn_type", "amount", "balance_after", "status",
                            "reference", "description", "related_wallet_id", "created_at"),
    "payouts_payout": ("id", "merchant_id", "wallet_id", "bank_account_id", "amount", "status",
                       "idempotency_key", "provider_ref", "failure_reason",
                       "debit_transaction_id", "created_at", "updated_at"),
}

# Every PayStream table: checked for emptiness, truncated by ``reset``. Order is irrelevant to
# TRUNCATE (one statement); the seeded ones get their sequences set.
PAYSTREAM_TABLES: tuple[str, ...] = (
    *COLUMNS,
    "wallets_idempotencyrecord",
    "hooks_webhookendpoint",
    "hooks_webhookdelivery",
    "hooks_notification",
)

AUTH_USER_COLUMNS = ("password", "is_superuser", "username", "first_name", "last_name", "email",
                     "is_staff", "is_active", "date_joined")

HISTORY_DAYS = 90
TXNS_PER_WALLET = 100  # average ledger length; sets how many users a scale needs
MIN_USERS_PER_MERCHANT = 4
# Django 5.2's default for PBKDF2PasswordHasher; a lower count would be re-hashed at first login.
PBKDF2_ITERATIONS = 1_000_000


@dataclass(frozen=True)
class Scale:
    merchants: int
    users_per_merchant: int
    transactions: int

    @property
    def users(self) -> int:
        return self.merchants * self.users_per_merchant


def plan_scale(transactions: int, merchants: int) -> Scale:
    if merchants < 1:
        raise ValueError(f"merchants must be at least 1, got {merchants}")
    if transactions < 0:
        raise ValueError(f"transactions must be zero or more, got {transactions}")
    per_merchant = max(MIN_USERS_PER_MERCHANT,
                       math.ceil(transactions / (merchants * TXNS_PER_WALLET)))
    return Scale(merchants=merchants, users_per_merchant=per_merchant, transactions=transactions)


def derive_api_key(seed: int, merchant_index: int, *, generation: str = "live") -> str:
    """The raw API key of a seeded merchant: stable for a seed, ``ps_test_`` + 32 url-safe chars."""
    mac = hmac.new(f"paystream-seed:{seed}".encode(), f"{generation}:{merchant_index}".encode(),
                   hashlib.sha256).digest()
    return "ps_test_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")[:32]


def hash_api_key(raw: str) -> str:
    # Same function as monolith.accounts.models.hash_api_key, kept Django-free here.
    return hashlib.sha256(raw.encode()).hexdigest()


def django_password_hash(password: str, *, salt: str | None = None,
                         iterations: int = PBKDF2_ITERATIONS) -> str:
    """A hash Django's ``check_password`` accepts, computed without configured settings."""
    salt = salt or secrets.token_hex(11)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def default_anchor(now: datetime | None = None) -> datetime:
    """The end of the seeded history: the start of the current UTC day.

    A whole day, not "now", so that two seeds with the same arguments on the same day produce
    identical tables.
    """
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


class TimestampText:
    """Formats epoch microseconds as COPY text for ``timestamptz``, fast (one strftime a day)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, us: int) -> str:
        day, rest = divmod(us, 86_400_000_000)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d ")
            self._days[day] = prefix
        seconds, micro = divmod(rest, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}+00"
