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
        "STRANGLER_PROXY_PORT": str(free_port()),
        "STRANGLER_CONTROL_PORT": str(free_port()),
        "STRANGLER_LEDGER_PORT": str(free_port()),
        "STRANGLER_WEBHOOKS_PORT": str(free_port()),
        "STRANGLER_NOTIFICATIONS_PORT": str(free_port()),
        "STRANGLER_SMTP_PORT": str(free_port()),
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


def test_up_starts_the_strangler_around_the_monolith_and_stops_it_all(tmp_path: Path) -> None:
    """`strangler up`: clients reach the monolith through the proxy; control plane and ledger answer."""
    import time

    import httpx

    env = stack_env(tmp_path)
    up = subprocess.Popen([sys.executable, "-m", "strangler", "up"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proxy = f"http://127.0.0.1:{env['STRANGLER_PROXY_PORT']}"
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert up.stdout is not None
        while not any("ready" in line for line in seen):
            line = up.stdout.readline()
            assert line, "strangler up exited before it was ready:\n" + "".join(seen)[-4000:]
            seen.append(line)
            assert time.monotonic() < deadline, "strangler up did not get ready in 240 s"
        assert httpx.get(f"{proxy}/readyz", timeout=5).status_code == 200
        refused = httpx.get(f"{proxy}/api/v1/wallets/1/balance/", timeout=5)
        assert refused.status_code == 401 and refused.json()["error_code"] == "AUTHENTICATION_REQUIRED"
        ledger = f"http://127.0.0.1:{env['STRANGLER_LEDGER_PORT']}"
        assert httpx.get(f"{ledger}/readyz", timeout=5).status_code == 200
        control = f"http://127.0.0.1:{env['STRANGLER_CONTROL_PORT']}"
        assert httpx.get(f"{control}/api/schema/", timeout=10).status_code in (200, 401, 403)
        status = strangler(["routes", "status"], env, timeout=60)
        assert status.returncode == 0 and "current" in status.stdout, status.stdout + status.stderr
        for port in ("STRANGLER_WEBHOOKS_PORT", "STRANGLER_NOTIFICATIONS_PORT"):
            assert httpx.get(f"http://127.0.0.1:{env[port]}/readyz", timeout=5).status_code == 200, port
        with socket.create_connection(("127.0.0.1", int(env["STRANGLER_SMTP_PORT"])), timeout=5) as smtp:
            assert smtp.recv(100).startswith(b"220"), "the embedded SMTP sink should greet"
    finally:
        up.send_signal(2)
        rest, _ = up.communicate(timeout=90)
    output = "".join(seen) + rest
    assert up.returncode == 0, output[-3000:]
    for name in ("proxy", "ledger", "consumer", "control", "monolith", "kafka", "postgres", "beat",
                 "control-worker", "hooks", "hooks-worker", "hooks-api", "notify", "notify-api", "smtp"):
        assert f"stopping   {name}" in output
    assert not (tmp_path / "postgres" / "data" / "postmaster.pid").exists()
