"""Nonsense sizes and durations are refused by the command line, before anything starts."""

from __future__ import annotations

import pytest

from strangler.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--transactions", "-5"], "-5 must be at least 1"),
        (["demo", "--concurrency", "0"], "0 must be at least 1"),
        (["demo", "--dwell", "nan"], "nan must be above 0"),
        (["demo", "--shadow-timeout", "-1"], "-1 must be above 0"),
        (["seed", "--transactions", "lots"], "'lots' is not a whole number"),
        (["client", "load", "--duration", "0"], "0 must be above 0"),
        (["acl", "relay", "--lanes-per-claim", "65"], "65: there are 64 lanes"),
        (["acl", "relay", "--lanes-per-claim", "0"], "0 must be at least 1"),
        (["acl", "relay", "--batch-size", "-1"], "-1 must be at least 1"),
    ],
)
def test_bad_sizes_exit_2_naming_the_value(argv: list[str], needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err
