"""pydbzengine wiring: the JVM, the Debezium engine and the handler that feeds ``DebeziumOutbox``.

Everything from pydbzengine/JPype is imported inside functions: importing ``acl``
never needs the ``cdc`` extra, and no JVM starts until a relay does.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import structlog

from acl.debezium.config import DebeziumSettings, connector_properties
from acl.debezium.errors import CdcNotInstalled, EngineFailed
from acl.debezium.java import resolve_jvm
from acl.debezium.store import DebeziumOutbox

_log = structlog.get_logger("acl.debezium")

# Debezium logs at INFO to the console and to ./logs/ by default (pydbzengine's config); we want
# warnings only, on stderr, and no files in whatever directory the relay was started from.
_LOG4J2 = """\
rootLogger.level=WARN
appender.console.type=Console
appender.console.name=stderr
appender.console.target=SYSTEM_ERR
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=%date [%level] %c{2} - %m%n
rootLogger.appenderRef.stderr.ref=stderr
"""


def _pydbzengine() -> Any:
    try:
        import pydbzengine
    except ImportError as exc:
        raise CdcNotInstalled() from exc
    return pydbzengine


def _jvm_options(heap: str) -> list[str]:
    config = Path(tempfile.gettempdir()) / "strangler-debezium-log4j2.properties"
    config.write_text(_LOG4J2)
    # later -Xmx/-Xms win over pydbzengine's defaults (256m/2g): this box has 2 shared cores
    return ["-Xms64m", f"-Xmx{heap}", f"-Dlog4j2.configurationFile={config}"]


class EngineThread:
    """One Debezium engine running in a daemon thread; ``error`` holds why it stopped, if it failed."""

    def __init__(
        self, settings: DebeziumSettings, store: DebeziumOutbox, java: str | None, heap: str
    ) -> None:
        pydbzengine = _pydbzengine()
        settings.offsets_dir.mkdir(parents=True, exist_ok=True)

        class _Handler(pydbzengine.BasePythonChangeHandler):  # type: ignore[name-defined]
            def handleJsonBatch(self, records: list[Any]) -> None:  # Java's callback name
                store.offer([None if r.value() is None else str(r.value()) for r in records])

        self.engine = pydbzengine.DebeziumJsonEngine(
            properties=connector_properties(settings),
            handler=_Handler(),
            jvm_opts=_jvm_options(heap),
            jvm_path=str(resolve_jvm(java)),
        )
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="debezium-engine", daemon=True)

    def _run(self) -> None:
        try:
            self.engine.run()
        except BaseException as exc:  # reported by the relay loop, which owns the process's fate
            self.error = exc
        if not self.stopping and self.error is None:
            self.error = EngineFailed("the Debezium engine stopped on its own; see its log above")

    def start(self) -> None:
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def failure(self) -> EngineFailed | None:
        if self.alive() or self.stopping or self.error is None:
            return None
        if isinstance(self.error, EngineFailed):
            return self.error
        return EngineFailed(f"the Debezium engine failed: {self.error}. Offsets kept; restart the relay.")

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping = True
        self.engine.close()
        self.thread.join(timeout)
