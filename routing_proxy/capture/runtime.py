"""Where mitmproxy runs: this interpreter if it has mitmproxy, else a virtualenv of its own.

mitmproxy 11.0.2 (the last release for Python 3.11) pins ``h11<=0.14`` and
``asgiref<=3.8.1``: installed next to the toolkit it would downgrade h11 below
0.16, the release that fixed a request-smuggling flaw (CVE-2025-43859), and
httpcore and asgiref with it, for every process of the toolkit, and it brings some
35 packages (cryptography, Flask, tornado, aioquic, a Rust extension, …). So by
default it lives in its own virtualenv, created on first use by
``strangler capture`` (or ``strangler capture --setup``) with ``pip`` from the same
package index as everything else, and only ever run as a separate process.

The virtualenv is ``$STRANGLER_MITMPROXY_VENV`` if set, else
``$XDG_CACHE_HOME/strangler/mitmproxy-<version>-py<X.Y>`` (``~/.cache/…``): shared by
every checkout and ``STRANGLER_HOME`` of the user, since it holds no state.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from routing_proxy.capture.errors import CaptureSetupError, MitmproxyMissing

MITMPROXY_VERSION = "11.0.2"
REQUIREMENT = f"mitmproxy=={MITMPROXY_VERSION}"
ENV_VAR = "STRANGLER_MITMPROXY_VENV"
_READY = ".strangler-ready"
SETUP_HINT = ("run `strangler capture --setup` once (it creates a separate virtualenv with "
              f"{REQUIREMENT}; see `strangler capture --help`), or install mitmproxy 11 into this "
              "environment")


@dataclass(frozen=True)
class Runtime:
    python: Path  # an interpreter that can import mitmproxy
    where: str  # for people: "this environment" or the virtualenv's path


def venv_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    python = f"py{sys.version_info[0]}.{sys.version_info[1]}"
    return cache / "strangler" / f"mitmproxy-{MITMPROXY_VERSION}-{python}"


def in_process() -> bool:
    return importlib.util.find_spec("mitmproxy") is not None


def find() -> Runtime | None:
    """The runtime to use, or None when mitmproxy is nowhere yet."""
    if in_process():
        return Runtime(Path(sys.executable), "this environment")
    venv = venv_dir()
    python = venv / "bin" / "python"
    if (venv / _READY).is_file() and python.exists():
        return Runtime(python, str(venv))
    return None


def require() -> Runtime:
    found = find()
    if found is None:
        raise MitmproxyMissing(f"mitmproxy is not installed: {SETUP_HINT}.")
    return found


def ensure(say: Callable[[str], None]) -> Runtime:
    """The runtime, creating the virtualenv first if there is none (several callers wait for one)."""
    found = find()
    if found is not None:
        return found
    venv = venv_dir()
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock = (venv.parent / f"{venv.name}.lock").open("w")
    except OSError as exc:
        raise CaptureSetupError(f"cannot create {venv.parent} for the mitmproxy virtualenv ({exc.strerror}); "
                                f"set {ENV_VAR} to a writable directory") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another process installing mitmproxy into {venv} …")
            fcntl.flock(lock, fcntl.LOCK_EX)
        found = find()
        if found is not None:
            return found
        _create(venv, say)
    result = find()
    assert result is not None
    return result


def _create(venv: Path, say: Callable[[str], None]) -> None:
    if venv.exists():  # an earlier attempt died half-way
        shutil.rmtree(venv)
    say(f"first use: installing {REQUIREMENT} into its own virtualenv {venv} (once; about a minute) …")
    log = venv.parent / f"{venv.name}.install.log"
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
         REQUIREMENT],
    ]
    with log.open("w") as out:
        for step in steps:
            out.write("$ " + " ".join(step) + "\n")
            out.flush()
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      timeout=900, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                shutil.rmtree(venv, ignore_errors=True)
                raise CaptureSetupError(f"installing mitmproxy failed ({exc}); see {log}") from exc
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                raise CaptureSetupError(
                    f"installing {REQUIREMENT} into {venv} failed (exit {done.returncode}); nothing else "
                    f"was changed. Last lines of {log}:\n  " + "\n  ".join(tail))
    (venv / _READY).write_text(REQUIREMENT + "\n")
    say(f"mitmproxy {MITMPROXY_VERSION} is ready in {venv}")
