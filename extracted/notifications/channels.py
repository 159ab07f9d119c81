"""Channels behind one interface: ``Channel.send(message)`` delivers or raises ``DeliveryFailed``.

E-mail goes over SMTP (``smtp.SmtpChannel``). SMS and push have no provider here yet:
``FileChannel`` is their adapter, appending each message as one JSON line to a file a
provider bridge (or a person) can read. ``MemoryChannel`` is the fake for unit tests; the
SMTP adapter is tested against a real SMTP server process.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path

from extracted.notifications.errors import DeliveryFailed


@dataclass(frozen=True)
class Message:
    message_id: str  # the same for every attempt of one notification: receivers can dedupe on it
    channel: str
    recipient: str
    subject: str
    body: str


class Channel(ABC):
    name: str

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed`` saying whether a retry is safe."""


class FileChannel(Channel):
    """Appends ``{message}`` as a JSON line to ``<folder>/<channel>.jsonl`` (SMS and push for now)."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.path = name, folder / f"{name}.jsonl"
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = json.dumps(asdict(message), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        except OSError as exc:
            raise DeliveryFailed(f"cannot append to {self.path}: {exc}", retry=True) from exc


class MemoryChannel(Channel):
    """The fake: keeps what it was given; ``failures`` are raised, in order, before it accepts."""

    def __init__(self, name: str, failures: list[DeliveryFailed] | None = None) -> None:
        self.name, self.sent, self.failures = name, list[Message](), list(failures or [])

    def send(self, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
