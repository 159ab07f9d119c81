"""Row generation for a seeded PayStream data set (pure: no I/O, no Django).

Rows come out as lines of PostgreSQL's COPY text format, in id order, so the
writer can stream them straight into ``COPY ... FROM STDIN``. The ledger is
simulated event by event in time order, holding only per-wallet state (balance,
last activity), so memory grows with the number of wallets, never with the
number of transactions.

Each stage draws from its own random stream derived from the seed, so output
is a pure function of (scale, seed, anchor, staff user id).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import accumulate

from monolith.seed import vocab
from monolith.seed.plan import (
    HISTORY_DAYS,
    Scale,
    TimestampText,
    derive_api_key,
    hash_api_key,
)

DAY_US = 86_400_000_000
NULL = "\\N"

# Legacy integer codes (monolith/*/models.py), repeated so this module stays Django-free.
KYC_NONE, KYC_PENDING, KYC_VERIFIED, KYC_REJECTED = 0, 1, 2, 3
WALLET_ACTIVE, WALLET_FROZEN = 1, 2
TXN_CREDIT, TXN_DEBIT, TXN_TRANSFER_IN, TXN_TRANSFER_OUT, TXN_PAYOUT, TXN_PAYOUT_REVERSAL = (
    1, 2, 3, 4, 5, 6,
)
TXN_POSTED = 1
PAYOUT_PROCESSING, PAYOUT_PAID, PAYOUT_FAILED = 2, 3, 4

LOCKED_BALANCE_LIMIT = 1_000_000  # paise: 10,000.00, the limit of a wallet whose KYC is not verified
FAILING_ACCOUNT_SUFFIX = "0000"  # the fake bank fails these (STRANGLER_BANK_FAILURE_SUFFIX default)
CHUNK_ROWS = 2000

Chunk = tuple[str, int]  # (COPY text for some rows, how many rows)


def _masked(number: str) -> str:
    return "XXXXXX" + number[-4:]


class DatasetGenerator:
    """Generates every seeded table; call the stages in order (later ones use earlier state)."""

    def __init__(self, scale: Scale, *, seed: int, anchor_us: int, staff_user_id: int) -> None:
        self.scale = scale
        self.seed = seed
        self.anchor_us = anchor_us
        self.window_start_us = anchor_us - HISTORY_DAYS * DAY_US
        self.staff_user_id = staff_user_id
        self.ts = TimestampText()
        self.api_keys: list[str] = []
        n = scale.users
        # Per-user (== per-wallet: one wallet each, same index) state, filled by the stages.
        self.kyc = bytearray(n)
        self.user_created = [0] * n
        self.holder = [""] * n
        self.frozen = bytearray(n)
        self.bank_account = [0] * n  # id of the user's own bank account, 0 if none
        self.bank_fails = bytearray(n)
        self.balance = [0] * n
        self.last_activity = [0] * n
        self.counts: dict[str, int] = {}

    def _rng(self, stage: str) -> random.Random:
        return random.Random(f"paystream-seed:{self.seed}:{stage}")

    def _count(self, table: str, rows: int) -> None:
        self.counts[table] = self.counts.get(table, 0) + rows

    # -- accounts -----------------------------------------------------------------------------

    def merchants(self) -> Iterator[Chunk]:
        rng = self._rng("merchants")
        lines = []
        for m in range(self.scale.merchants):
            base = vocab.MERCHANT_NAMES[m % len(vocab.MERCHANT_NAMES)]
            name = base if m < len(vocab.MERCHANT_NAMES) else f"{base} {m // len(vocab.MERCHANT_NAMES) + 1}"
            slug = name.lower().replace(" ", "")
            created = self.window_start_us - rng.randrange(200, 400) * DAY_US - rng.randrange(DAY_US)
            lines.append(f"{m + 1}\t{name}\tpayments@{slug}.example.in\tt\t{self.ts(created)}\n")
        self._count("accounts_merchant", len(lines))
        yield "".join(lines), len(lines)

    def api_key_rows(self) -> Iterator[Chunk]:
        """One live key per merchant (returned raw in ``api_keys``); every third has a revoked one."""
        rng = self._rng("api_keys")
        lines = []
        key_id = 0
        for m in range(self.scale.merchants):
            created = self.window_start_us - rng.randrange(100, 200) * DAY_US
            if m % 3 == 0:
                old = derive_api_key(self.seed, m, generation="revoked")
                key_id += 1
                lines.append(f"{key_id}\t{m + 1}\t{old[:12]}\t{hash_api_key(old)}\t"
                             f"{self.ts(created - 90 * DAY_US)}\t{self.ts(created)}\n")
            raw = derive_api_key(self.seed, m)
            self.api_keys.append(raw)
            key_id += 1
            lines.append(f"{key_id}\t{m + 1}\t{raw[:12]}\t{hash_api_key(raw)}\t"
                         f"{self.ts(created)}\t{NULL}\n")
        self._count("accounts_apikey", len(lines))
        yield "".join(lines), len(lines)

    def users(self) -> Iterator[Chunk]:
        rng = self._rng("users")
        per = self.scale.users_per_merchant
        lines = []
        for u in range(self.scale.users):
            m, k = divmod(u, per)
            if k == 0:
                status = KYC_VERIFIED  # every merchant has a verified wallet to move money with
            else:
                roll = rng.random()
                status = (KYC_VERIFIED if roll < 0.60 else KYC_PENDING if roll < 0.75
                          else KYC_REJECTED if roll < 0.80 else KYC_NONE)
                if status == KYC_NONE and rng.random() < 0.05:
                    self.frozen[u] = 1
            self.kyc[u] = status
            first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
            self.holder[u] = f"{first} {last}".upper()
            created = self.window_start_us - rng.randrange(2 * DAY_US, 60 * DAY_US)
            self.user_created[u] = created
            email = f"{first}.{last}{u + 1}@example.in".lower().replace("'", "")
            phone = f"+91{rng.randrange(6_000_000_000, 9_999_999_999)}"
            updated = created
            if status == KYC_PENDING:
                updated = self.anchor_us - rng.randrange(DAY_US, 14 * DAY_US)
            lines.append(f"{u + 1}\t{m + 1}\tCUST-{m + 1:03d}-{k + 1:06d}\t{first} {last}\t"
                         f"{email}\t{phone}\t{status}\t{self.ts(created)}\t{self.ts(updated)}\n")
            if len(lines) >= CHUNK_ROWS:
                yield "".join(lines), len(lines)
                lines = []
        self._count("accounts_user", self.scale.users)
        if lines:
            yield "".join(lines), len(lines)

    def _document(self, rng: random.Random) -> tuple[int, str]:
        doc_type = rng.choice((1, 1, 1, 2, 2, 3))
        if doc_type == 1:
            letters = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))
            return 1, f"{letters}{rng.randrange(1000, 10000)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"
        if doc_type == 2:
            return 2, str(rng.randrange(2 * 10**11, 10**12))
        return 3, f"{rng.choice('JKLMNPRSTUVZ')}{rng.randrange(10**6, 10**7)}"

    def kyc_submissions(self) -> Iterator[Chunk]:
        rng = self._rng("kyc")
        staff = self.staff_user_id
        lines = []
        sub_id = 0

        def add(u: int, status: int, reason: str, submitted: int, reviewed: int | None) -> None:
            nonlocal sub_id
            sub_id += 1
            doc_type, number = self._document(rng)
            reviewer = NULL if reviewed is None else str(staff)
            lines.append(f"{sub_id}\t{u + 1}\t{doc_type}\t{number}\t{status}\t{reason}\t{reviewer}\t"
                         f"{self.ts(submitted)}\t{NULL if reviewed is None else self.ts(reviewed)}\n")

        for u in range(self.scale.users):
            status = self.kyc[u]
            created = self.user_created[u]
            if status == KYC_VERIFIED:
                submitted = created + rng.randrange(DAY_US // 2)
                if rng.random() < 0.15:
                    add(u, KYC_REJECTED, rng.choice(vocab.KYC_REJECTION_REASONS), submitted,
                        submitted + rng.randrange(3600_000_000, 6 * 3600_000_000))
                    submitted += DAY_US // 2
                add(u, KYC_VERIFIED, "", submitted,
                    submitted + rng.randrange(600_000_000, 3600_000_000))
            elif status == KYC_PENDING:
                add(u, KYC_PENDING, "", self.anchor_us - rng.randrange(DAY_US, 14 * DAY_US), None)
            elif status == KYC_REJECTED:
                submitted = self.window_start_us + rng.randrange(HISTORY_DAYS * DAY_US - DAY_US)
                add(u, KYC_REJECTED, rng.choice(vocab.KYC_REJECTION_REASONS), submitted,
                    submitted + rng.randrange(3600_000_000, 12 * 3600_000_000))
            if len(lines) >= CHUNK_ROWS:
                self._count("accounts_kycsubmission", len(lines))
                yield "".join(lines), len(lines)
                lines = []
        self._count("accounts_kycsubmission", len(lines))
        if lines:
            yield "".join(lines), len(lines)

    # -- payouts: bank accounts ---------------------------------------------------------------

    def bank_accounts(self) -> Iterator[Chunk]:
        """Every verified user has an account (about 6% of them failing); some pending users too."""
        rng = self._rng("bank_accounts")
        lines = []
        account_id = 0
        per = self.scale.users_per_merchant
        for m in range(self.scale.merchants):
            account_id += 1  # the merchant's own settlement account
            number = str(rng.randrange(10**13, 10**14))
            ifsc = f"{rng.choice(vocab.BANK_IFSC_PREFIXES)}0{rng.randrange(10**5, 10**6)}"
            created = self.window_start_us - 100 * DAY_US
            lines.append(f"{account_id}\t{m + 1}\t{NULL}\t{number}\t{ifsc}\t"
                         f"{vocab.MERCHANT_NAMES[m % len(vocab.MERCHANT_NAMES)].upper()}\t"
                         f"{self.ts(created)}\n")
            for u in range(m * per, (m + 1) * per):
                status = self.kyc[u]
                if not (status == KYC_VERIFIED or (status == KYC_PENDING and rng.random() < 0.3)):
                    continue
                account_id += 1
                digits = rng.randrange(9, 19)
                number = str(rng.randrange(10 ** (digits - 1), 10**digits))
                if status == KYC_VERIFIED and rng.random() < 0.06:
                    number = number[:-4] + FAILING_ACCOUNT_SUFFIX
                    self.bank_fails[u] = 1
                elif number.endswith(FAILING_ACCOUNT_SUFFIX):
                    number = number[:-1] + "7"
                self.bank_account[u] = account_id
                ifsc = f"{rng.choice(vocab.BANK_IFSC_PREFIXES)}0{rng.randrange(10**5, 10**6)}"
                created = self.user_created[u] + rng.randrange(DAY_US)
                lines.append(f"{account_id}\t{m + 1}\t{u + 1}\t{number}\t{ifsc}\t{self.holder[u]}\t"
                             f"{self.ts(created)}\n")
            if len(lines) >= CHUNK_ROWS:
                self._count("payouts_bankaccount", len(lines))
                yield "".join(lines), len(lines)
                lines = []
        self._count("payouts_bankaccount", len(lines))
        if lines:
            yield "".join(lines), len(lines)

    # -- wallets and the ledger ---------------------------------------------------------------

    def wallets(self) -> Iterator[Chunk]:
        """Wallets with a zero balance; :meth:`wallet_balances` gives the final ones afterwards."""
        per = self.scale.users_per_merchant
        lines = []
        for u in range(self.scale.users):
            created = self.user_created[u] + 60_000_000
            self.last_activity[u] = created
            locked = "f" if self.kyc[u] == KYC_VERIFIED else "t"
            status = WALLET_FROZEN if self.frozen[u] else WALLET_ACTIVE
            lines.append(f"{u + 1}\t{u // per + 1}\t{u + 1}\tINR\t0\t{status}\t{locked}\t"
                         f"{self.ts(created)}\t{self.ts(created)}\n")
            if len(lines) >= CHUNK_ROWS:
                yield "".join(lines), len(lines)
                lines = []
        self._count("wallets_wallet", self.scale.users)
        if lines:
            yield "".join(lines), len(lines)

    def wallet_balances(self) -> Iterator[Chunk]:
        """``id, balance, updated_at`` per wallet, valid once :meth:`ledger` is exhausted."""
        lines = []
        for u in range(self.scale.users):
            lines.append(f"{u + 1}\t{self.balance[u]}\t{self.ts(self.last_activity[u])}\n")
            if len(lines) >= CHUNK_ROWS:
                yield "".join(lines), len(lines)
                lines = []
        if lines:
            yield "".join(lines), len(lines)

    def ledger(self, payout_sink: Callable[[str], object]) -> Iterator[Chunk]:
        """Transactions in id (= time) order; each payout row goes to ``payout_sink``.

        Balances never go negative: debits, transfers and payouts take a share of what the
        wallet holds, and wallets whose KYC is not verified only receive credits up to the
        locked limit, as the monolith's rules require.
        """
        rng = self._rng("ledger")
        ts = self.ts
        total = self.scale.transactions
        per = self.scale.users_per_merchant
        users = self.scale.users
        kyc, balance, last = self.kyc, self.balance, self.last_activity
        verified = [u for u in range(users) if kyc[u] == KYC_VERIFIED and not self.frozen[u]]
        by_merchant: dict[int, list[int]] = {}
        for u in verified:
            by_merchant.setdefault(u // per, []).append(u)
        weights = []
        for u in range(users):
            if self.frozen[u]:
                weights.append(0.0)
            else:
                weights.append(rng.lognormvariate(0, 1) * (3.0 if kyc[u] == KYC_VERIFIED else 0.5))
        cumulative = list(accumulate(weights))
        step = max(1, (HISTORY_DAYS * DAY_US) // max(total, 1))
        jitter = max(1, step // 2)
        processing_after = self.anchor_us - DAY_US
        window_start = self.window_start_us
        lines: list[str] = []
        row = 0
        payout_id = 0
        picks: list[int] = []

        def credit_amount() -> int:
            rupees = min(200_000, int(rng.lognormvariate(7.0, 1.3)) + 1)
            return rupees * 100 + (0 if rng.random() < 0.7 else rng.randrange(100))

        while row < total:
            if not picks:
                picks = rng.choices(range(users), cum_weights=cumulative, k=4096)
            u = picks.pop()
            remaining = total - row
            at = window_start + row * step + rng.randrange(jitter)
            if kyc[u] != KYC_VERIFIED:
                room = LOCKED_BALANCE_LIMIT - balance[u]
                if room >= 100:
                    amount = min(credit_amount(), room)
                    balance[u] += amount
                    row += 1
                    lines.append(f"{row}\t{u + 1}\t{TXN_CREDIT}\t{amount}\t{balance[u]}\t"
                                 f"{TXN_POSTED}\tUPI{rng.randrange(10**11, 10**12)}\t"
                                 f"{rng.choice(vocab.CREDIT_DESCRIPTIONS)}\t{NULL}\t{ts(at)}\n")
                    last[u] = at
                    continue
                u = rng.choice(verified)  # full wallet: the money goes to someone who can spend it
            roll = rng.random()
            held = balance[u]
            if roll < 0.45 or held < 100:
                amount = credit_amount()
                balance[u] = held + amount
                row += 1
                lines.append(f"{row}\t{u + 1}\t{TXN_CREDIT}\t{amount}\t{balance[u]}\t{TXN_POSTED}\t"
                             f"UPI{rng.randrange(10**11, 10**12)}\t"
                             f"{rng.choice(vocab.CREDIT_DESCRIPTIONS)}\t{NULL}\t{ts(at)}\n")
            elif roll < 0.85 and remaining >= 2 and roll >= 0.75 and len(by_merchant[u // per]) > 1:
                peers = by_merchant[u // per]
                to = u
                while to == u:
                    to = rng.choice(peers)
                amount = max(100, int(held * rng.uniform(0.05, 0.5)))
                balance[u] = held - amount
                balance[to] += amount
                ref = f"TRF{rng.getrandbits(40):010X}"
                row += 1
                lines.append(f"{row}\t{u + 1}\t{TXN_TRANSFER_OUT}\t{amount}\t{balance[u]}\t"
                             f"{TXN_POSTED}\t{ref}\t\t{to + 1}\t{ts(at)}\n")
                row += 1
                lines.append(f"{row}\t{to + 1}\t{TXN_TRANSFER_IN}\t{amount}\t{balance[to]}\t"
                             f"{TXN_POSTED}\t{ref}\t\t{u + 1}\t{ts(at + 1)}\n")
                last[to] = at + 1
            elif roll >= 0.95 and self.bank_account[u] and held >= 10_000 and (
                    remaining >= 2 or not self.bank_fails[u] or at > processing_after):
                amount = max(10_000, int(held * rng.uniform(0.2, 0.8)) // 100 * 100)
                balance[u] = held - amount
                payout_id += 1
                row += 1
                debit_id = row
                account = self.bank_account[u]
                lines.append(f"{row}\t{u + 1}\t{TXN_PAYOUT}\t{amount}\t{balance[u]}\t{TXN_POSTED}\t"
                             f"PAYOUT-{payout_id}\tPayout to bank account #{account}\t{NULL}\t"
                             f"{ts(at)}\n")
                key = f"{rng.getrandbits(128):032x}"
                created = at
                if at > processing_after:
                    status, provider, reason, settled = PAYOUT_PROCESSING, "", "", at
                elif self.bank_fails[u]:
                    # The fake bank fails it at once: the reversal is the next ledger row.
                    status, provider, reason = PAYOUT_FAILED, "", vocab.PAYOUT_FAILURE_REASON
                    settled = at = at + 1
                    balance[u] += amount
                    row += 1
                    lines.append(f"{row}\t{u + 1}\t{TXN_PAYOUT_REVERSAL}\t{amount}\t{balance[u]}\t"
                                 f"{TXN_POSTED}\tPAYOUT-{payout_id}\tPayout failed: {reason}\t"
                                 f"{NULL}\t{ts(settled)}\n")
                else:
                    status, reason = PAYOUT_PAID, ""
                    provider = f"FBK{rng.getrandbits(48):012X}"
                    settled = at + rng.randrange(30_000_000, 1_800_000_000)
                payout_sink(f"{payout_id}\t{u // per + 1}\t{u + 1}\t{account}\t{amount}\t{status}\t"
                            f"{key}\t{provider}\t{reason}\t{debit_id}\t{ts(created)}\t"
                            f"{ts(settled)}\n")
            else:
                amount = max(100, int(held * rng.uniform(0.02, 0.4)))
                balance[u] = held - amount
                row += 1
                lines.append(f"{row}\t{u + 1}\t{TXN_DEBIT}\t{amount}\t{balance[u]}\t{TXN_POSTED}\t"
                             f"ORD{rng.randrange(10**9, 10**10)}\t"
                             f"{rng.choice(vocab.DEBIT_DESCRIPTIONS)}\t{NULL}\t{ts(at)}\n")
            last[u] = at
            if len(lines) >= CHUNK_ROWS:
                yield "".join(lines), len(lines)
                lines = []
        self._count("wallets_transaction", total)
        self._count("payouts_payout", payout_id)
        if lines:
            yield "".join(lines), len(lines)
