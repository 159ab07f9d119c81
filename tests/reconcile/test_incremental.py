"""Incremental runs: a segment is skipped only when provably unchanged on both sides.

Every kind of change planted after a clean run — an UPDATE that keeps the row count, a
DELETE, an INSERT past the old key range, a change to a joined table's read column, on
either side — is found by the next (incremental) run exactly as a full run finds it.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from reconcile.bootstrap import check_against, run_comparison
from reconcile.compare import MISMATCH, MISSING_IN_EXTRACTED, MISSING_IN_LEGACY
from reconcile.engine import Options
from reconcile.incremental import (
    FULL,
    INCREMENTAL,
    Baseline,
    digest,
    from_json,
    plan,
    to_json,
)
from reconcile.mapping import parse_mapping
from reconcile.mappings import LEDGER
from reconcile.result import CLEAN, RunResult
from reconcile.segments import Segment
from tests.reconcile.conftest import LEDGER_ROWS, LedgerPair
from tests.reconcile.ledger_fixture import execute

SMALL = Options(segment_rows=50, fanout=4, leaf_rows=8)  # 60 first-level segments


def keep_run(pair: LedgerPair, baseline: Baseline | None = None, name: str = "transactions",
             label: str = "2") -> RunResult:
    return run_comparison(pair.checked(name), pair.legacy, pair.extracted, SMALL,
                          baseline=baseline, keep=True, label=label)


def found(result: RunResult) -> set[tuple[str, tuple, bool]]:
    return {(d.category, d.key, d.pending) for d in result.discrepancies}


def first_clean(pair: LedgerPair, name: str = "transactions") -> Baseline:
    result = keep_run(pair, name=name, label="1")
    assert result.status == CLEAN and result.coverage.mode == FULL
    assert result.baseline is not None and len(result.baseline.segments) >= 60
    return result.baseline


def test_an_unchanged_pair_is_carried_whole_with_the_full_runs_counts_and_checksums(
        ledger_pair: LedgerPair) -> None:
    full = keep_run(ledger_pair, label="1")
    assert full.baseline is not None
    again = keep_run(ledger_pair, full.baseline)
    assert again.status == CLEAN
    assert (again.coverage.mode, again.coverage.carried, again.coverage.rechecked) == (
        INCREMENTAL, 60, 0)
    assert again.coverage.rows_carried == LEDGER_ROWS and again.coverage.basis == "1"
    assert (again.legacy, again.extracted) == (full.legacy, full.extracted)
    assert again.stats.rows_fetched == 0
    assert again.baseline is not None and again.baseline.segments == full.baseline.segments


def test_changes_in_previously_clean_segments_are_found_on_either_side(
        ledger_pair: LedgerPair) -> None:
    legacy, extracted = ledger_pair.legacy, ledger_pair.extracted
    # Wallet 999 holds only transaction 1234, so changing it dirties one segment.
    for url, table in ((legacy, "wallets_transaction"), (extracted, "ledger_transaction")):
        execute(url, f"UPDATE {table} SET wallet_id = 999 WHERE id = 1234")
    execute(legacy, "INSERT INTO wallets_wallet SELECT 999, currency, balance, status, "
                    "limits_locked, created_at, updated_at, merchant_id, user_id "
                    "FROM wallets_wallet WHERE id = 1")
    baseline = first_clean(ledger_pair)

    execute(legacy, "UPDATE wallets_transaction SET amount = amount + 1 WHERE id = 1500")
    execute(extracted, "UPDATE ledger_transaction SET status = 'reversed' WHERE id = 1777")
    execute(extracted, "DELETE FROM ledger_transaction WHERE id = 2200")
    execute(legacy, "DELETE FROM wallets_transaction WHERE id = 400")
    execute(extracted, "UPDATE ledger_transaction SET amount = amount WHERE id = 2900")  # no-op
    execute(extracted, "INSERT INTO ledger_transaction SELECT id + 1000, wallet_id, kind, "
                       "amount, currency, status, reference, created_at FROM ledger_transaction "
                       "WHERE id = 2500")  # past the old key range
    execute(legacy, "UPDATE wallets_wallet SET currency = 'EUR' WHERE id = 999")  # joined
    execute(legacy, "UPDATE wallets_wallet SET balance = balance + 5 WHERE id = 2")  # unread
    planted = {
        (MISMATCH, (1500,), False), (MISMATCH, (1777,), False),
        (MISSING_IN_EXTRACTED, (2200,), False), (MISSING_IN_LEGACY, (400,), False),
        (MISSING_IN_LEGACY, (3500,), False), (MISMATCH, (1234,), False),
    }
    result = keep_run(ledger_pair, baseline)
    assert result.coverage.mode == INCREMENTAL, result.coverage.reason
    assert found(result) == planted
    assert 0 < result.coverage.rechecked < 10 and result.coverage.carried >= 52
    full = run_comparison(ledger_pair.checked(), legacy, extracted, SMALL)
    assert found(full) == planted
    assert (result.legacy, result.extracted) == (full.legacy, full.extracted)
    # The segments with breaks are not kept, so the night after rechecks them again.
    assert result.baseline is not None
    kept = result.baseline.segments
    assert not any(r.segment.contains(k) for r in kept for _, k, _ in planted)
    assert found(keep_run(ledger_pair, result.baseline)) == planted


def test_a_change_to_double_entry_legs_is_found_by_composite_key(
        ledger_pair: LedgerPair) -> None:
    baseline = first_clean(ledger_pair, "entries")
    execute(ledger_pair.extracted, "UPDATE ledger_entry SET account = 'contra:x' "
                                   "WHERE transaction_id = 1200 AND leg = 'contra'")
    result = keep_run(ledger_pair, baseline, "entries")
    assert result.coverage.mode == INCREMENTAL
    assert found(result) == {(MISMATCH, (1200, "contra"), False)}


def test_a_new_mapping_a_rewritten_table_or_no_baseline_means_a_full_run(
        ledger_pair: LedgerPair) -> None:
    baseline = first_clean(ledger_pair)
    assert keep_run(ledger_pair).coverage.reason == "no earlier clean segments"
    text = LEDGER.read_text().replace('tolerance = "0"', 'tolerance = "0.01"')
    checked = check_against(parse_mapping(text), ledger_pair.legacy, ledger_pair.extracted)[0]
    changed = run_comparison(checked, ledger_pair.legacy, ledger_pair.extracted, SMALL,
                             baseline=baseline, keep=True)
    assert changed.coverage.mode == FULL and "mapping changed" in changed.coverage.reason
    # VACUUM FULL keeps xmin but moves every row: the identity check refuses the baseline.
    execute(ledger_pair.extracted, "VACUUM FULL ledger_transaction")
    rewritten = keep_run(ledger_pair, baseline)
    assert rewritten.coverage.mode == FULL and "rewritten" in rewritten.coverage.reason
    assert rewritten.status == CLEAN and rewritten.coverage.carried == 0


def test_when_most_segments_changed_the_run_is_full_and_says_so(
        ledger_pair: LedgerPair) -> None:
    baseline = first_clean(ledger_pair)
    execute(ledger_pair.legacy, "UPDATE wallets_transaction SET amount = amount + 1 "
                                "WHERE id % 40 = 0")
    result = keep_run(ledger_pair, baseline)
    assert result.coverage.mode == FULL and "a full pass is cheaper" in result.coverage.reason
    assert len(result.breaks) == LEDGER_ROWS // 40


def test_the_stored_form_round_trips_and_its_digest_detects_an_edit(
        ledger_pair: LedgerPair) -> None:
    baseline = first_clean(ledger_pair)
    data = to_json(baseline)
    assert from_json(data) == baseline
    data["segments"][3][4] += 1
    assert digest(data) != digest(to_json(baseline))


keys = st.integers(-50, 50)


@given(cuts=st.lists(keys, min_size=2, max_size=12, unique=True), drop=st.sets(st.integers(0, 11)),
       lo=keys, hi=keys, last_inclusive=st.booleans())
def test_plan_covers_the_stored_segments_and_the_new_bounds_contiguously(
        cuts: list[int], drop: set[int], lo: int, hi: int, last_inclusive: bool) -> None:
    cuts.sort()
    lo, hi = min(lo, hi), max(lo, hi)
    segments = [Segment((a,), (b,)) for a, b in itertools.pairwise(cuts)]
    if last_inclusive:
        segments[-1] = Segment(segments[-1].lo, segments[-1].hi, True)
    stored = [s for i, s in enumerate(segments) if i not in drop] or segments[:1]
    planned = plan(stored, (lo,), (hi,))
    parts = [s for s, _ in planned]
    assert all(a.hi == b.lo and not a.hi_inclusive for a, b in itertools.pairwise(parts))
    assert parts[-1].hi_inclusive
    assert parts[0].lo <= min((lo,), stored[0].lo) and parts[-1].hi >= (hi,)
    for segment, index in planned:  # a stored record is reused only for its exact range
        assert index is None or stored[index] == segment
    for key in range(int(parts[0].lo[0]), int(parts[-1].hi[0]) + 1):
        assert sum(s.contains((key,)) for s in parts) == 1
