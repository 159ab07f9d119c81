"""argparse types that refuse nonsense before anything is started."""

from __future__ import annotations

import argparse
import math


def _whole(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} must be above 0, and finite")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def lane_count(text: str) -> int:
    """1..64: the relay's ordering lanes (``strangler_acl.relay_lane``)."""
    value = positive_int(text)
    if value > 64:
        raise argparse.ArgumentTypeError(f"{value}: there are 64 lanes; give 1..64")
    return value
