"""The ``strangler`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module with ``register(subparsers)`` and a
handler taking the parsed arguments. Errors of the toolkit are printed as one
clear message (no traceback) with the error's exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from strangler import __version__
from strangler.cli import (
    capture_cmd,
    client_cmds,
    demo_cmd,
    events_cmd,
    lint_cmd,
    migrate_cmd,
    reconcile_cmd,
    routes_cmd,
    seed_cmd,
    shadow_cmd,
    stack_cmds,
)
from strangler.errors import StranglerError

DESCRIPTION = """\
Strangle a legacy Django monolith into extracted services, with evidence at every step.

Start here:  strangler demo      (strangles the ledger end to end, reads then writes, on embedded
                                  defaults, with the legacy client calling throughout)
Settings come from STRANGLER_* environment variables; `strangler config` shows them.
"""

MODULES = (
    stack_cmds, seed_cmd, client_cmds, demo_cmd, events_cmd, routes_cmd, shadow_cmd, reconcile_cmd,
    lint_cmd, migrate_cmd, capture_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strangler", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"strangler {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        return int(args.handler(args) or 0)
    except StranglerError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
