"""End to end: the stack as real processes, driven through the `strangler` command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from strangler.stack.net import free_port

pytestmark = pytest.mark.e2e



def stack_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}
    env.update({
        "STRANGLER_HOME": str(home),
        "STRANGLER_PG_PORT": str(free_port()),
        "STRANGLER_MONOLITH_PORT": str(free_port()),
        "STRANGLER_KAFKA_PORT": str(free_port()),
        "STRANGLER_MONOLITH_WORKERS": "2",
    })
    return env


def strangler(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "strangler", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def test_up_refuses_a_taken_port_naming_the_variable_and_starting_nothing(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["STRANGLER_MONOLITH_PORT"])))
        squatter.listen()
        result = strangler(["up"], env, timeout=60)
    assert result.returncode == 69, result.stderr
    assert "STRANGLER_MONOLITH_PORT" in result.stderr
    assert not (tmp_path / "postgres").exists(), "nothing may be started when a port is taken"


def test_invalid_setting_fails_at_start_with_the_variable_named(tmp_path: Path) -> None:
    env = stack_env(tmp_path) | {"STRANGLER_MONOLITH_WORKERS": "many"}
    result = strangler(["up"], env, timeout=60)
    assert result.returncode == 78
    assert "STRANGLER_MONOLITH_WORKERS" in result.stderr


def test_demo_runs_the_legacy_client_against_the_whole_stack(tmp_path: Path) -> None:
    """`strangler demo` starts PostgreSQL, Kafka, the monolith and Celery, seeds, runs the client."""
    env = stack_env(tmp_path)
    result = strangler(["demo", "--transactions", "5000", "--duration", "3", "--concurrency", "4"],
                       env, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "demo passed" in output
    # Everything it started has stopped again: the embedded PostgreSQL's pid file is gone.
    assert not (tmp_path / "postgres" / "data" / "postmaster.pid").exists(), output[-3000:]
