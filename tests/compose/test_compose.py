"""compose/docker-compose.yml without Docker: every command exists, every setting is one the code reads.

Checks, per service built from this project: each step of its command (``sh -c`` chains
split on ``&&``, ``exec`` dropped) is a ``strangler`` subcommand that ``strangler --help``
lists, a ``python -m`` module (with every ``--flag`` it passes present in the module's
``--help`` when it has one), a gunicorn ``module:attribute`` or a Celery ``-A`` app that
imports; its ``STRANGLER_*`` variables are names the code reads, the values parse
through ``strangler.config.Settings``, and every URL's host is a service of the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from strangler.cli import build_parser
from strangler.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose" / "docker-compose.yml"
CODE = ("strangler", "acl", "extracted", "routing_proxy", "reconcile", "monolith", "shadow",
        "migrations")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def project_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def names_the_code_reads() -> set[str]:
    """``STRANGLER_*`` literals anywhere in the code, plus strangler.config's reader calls."""
    found: set[str] = set()
    for package in CODE:
        for path in (REPO / package).rglob("*.py"):
            found.update(re.findall(r"STRANGLER_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    config = (REPO / "strangler" / "config.py").read_text()
    found.update("STRANGLER_" + n for n in re.findall(r"r\.\w+\(\"([A-Z0-9_]+)\"", config))
    return found


def steps(command: list[str]) -> list[list[str]]:
    if command[:2] == ["sh", "-c"]:
        return [[w for w in shlex.split(part) if w != "exec"] for part in command[2].split("&&")]
    return [command]


def subcommands() -> set[str]:
    import argparse

    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def module_help(module: str, args: list[str]) -> str | None:
    """The module's ``--help`` (a Django ``manage`` module's: its subcommand's), None if it has none."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    asked = [args[0], "--help"] if module.endswith(".manage") else ["--help"]
    done = subprocess.run([sys.executable, "-m", module, *asked], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={**env, "STRANGLER_ENV": "dev"})
    return done.stdout if done.returncode == 0 else None


def check_step(step: list[str]) -> None:
    program, args = step[0], step[1:]
    if program == "strangler":
        assert args[0] in subcommands(), f"`strangler {args[0]}` is not a subcommand"
    elif program == "python":
        assert args[0] == "-m", f"python without -m: {step}"
        module = args[1]
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
        text = module_help(module, args[2:])
        for flag in (a for a in args[2:] if a.startswith("--")):
            assert text is None or flag in text, f"python -m {module} has no option {flag}"
    elif program == "gunicorn":
        module, attribute = args[0].split(":")
        # in its own process, without the tests' settings, as gunicorn imports it: a service's
        # WSGI entry refuses another project's settings (extracted.ledger_query.wsgi)
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        probe = ("import importlib, sys; sys.exit(0 if hasattr(importlib.import_module(sys.argv[1]), "
                 "sys.argv[2]) else 1)")
        done = subprocess.run([sys.executable, "-c", probe, module, attribute], capture_output=True,
                              text=True, timeout=120, cwd=REPO, env={**env, "STRANGLER_ENV": "dev"})
        assert done.returncode == 0, f"no {args[0]}: {done.stderr[-2000:]}"
    elif program == "celery":
        assert importlib.util.find_spec(args[args.index("-A") + 1]) is not None
    else:
        raise AssertionError(f"unknown program {program!r} in {step}")


@pytest.mark.parametrize("service", sorted(project_services()))
def test_each_project_service_starts_a_command_that_exists(service: str) -> None:
    command = project_services()[service]["command"]
    for step in steps(command):
        check_step(step)


def test_the_stack_has_every_part_the_design_names() -> None:
    services = compose()["services"]
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    assert {"pg-monolith", "pg-control", "pg-ledger", "redis", "monolith", "monolith-worker",
            "relay", "ledger-consumer", "ledger-api", "control-plane", "control-worker",
            "control-beat", "proxy"} <= set(services)


@pytest.mark.parametrize("service", sorted(project_services()))
def test_each_service_environment_is_made_of_settings_the_code_reads_and_parses(service: str) -> None:
    services = compose()["services"]
    env = {k: str(v) for k, v in project_services()[service]["environment"].items()}
    unknown = {k for k in env if k.startswith("STRANGLER_")} - names_the_code_reads()
    assert not unknown, f"{service} sets variables no code reads: {sorted(unknown)}"
    settings = Settings.from_environ(env)  # raises ConfigError naming a bad value
    assert settings.env == "production" and settings.redis_url
    for key, value in env.items():
        if "://" in value:
            host = urlsplit(value).hostname
            assert host in services, f"{service}: {key} points at {host}, not a compose service"
