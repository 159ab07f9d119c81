"""ledger_sync runs the orphaned-payout sweep now and then, from its own loop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monolith.wallets.ledger_sync import PeriodicSweep, parse_args


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_sweep_runs_at_once_then_every_interval_with_its_window() -> None:
    clock, windows = Clock(), list[timedelta]()

    def record(window: timedelta) -> list[object]:
        windows.append(window)
        return []

    sweep = PeriodicSweep(timedelta(minutes=5), timedelta(minutes=15), sweep=record, clock=clock)
    sweep.maybe_run()
    clock.now = 299
    sweep.maybe_run()
    clock.now = 300
    sweep.maybe_run()
    assert windows == [timedelta(minutes=15)] * 2


def test_a_failing_round_is_logged_and_the_next_one_runs() -> None:
    clock, calls = Clock(), list[timedelta]()

    def broken(window: timedelta) -> list[object]:
        calls.append(window)
        raise RuntimeError("database away")

    sweep = PeriodicSweep(timedelta(seconds=10), timedelta(0), sweep=broken, clock=clock)
    sweep.maybe_run()  # does not raise: the mirror loop goes on
    clock.now = 10
    sweep.maybe_run()
    assert len(calls) == 2


def test_no_interval_means_no_sweep() -> None:
    sweep = PeriodicSweep(None, timedelta(minutes=15), sweep=lambda w: pytest.fail("swept"))
    sweep.maybe_run()
    assert parse_args(["--sweep-every", "0s"]).sweep_every == timedelta(0)


@pytest.mark.parametrize(("args", "says"), [
    (["--sweep-every", "5 minutes"], "is not a duration"),
    (["--sweep-older-than=-1m"], "is not a duration"),
    (["--interval", "0"], "must be above 0"),
])
def test_bad_options_are_refused(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(args)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err
