"""A request body as it streams in from the client, readable by the upstream call.

Chunks are kept when the request may have to be sent twice (fallback, retry on a
stale keep-alive connection) or copied to the shadow; otherwise each chunk is
released once sent. Reading from the client pauses while too much is unsent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

_HIGH_WATER = 1024 * 1024


class RequestBody:
    __slots__ = ("_flow", "_sent", "_unsent", "_waiter", "chunks", "done", "error", "read_all",
                 "retain", "size")

    def __init__(self, flow: Callable[[bool], None]) -> None:
        self.chunks: list[bytes] = []
        self.done = False
        self.error: BaseException | None = None
        self.retain = True
        self.read_all = False  # the last read() yielded every piece of a finished body
        self.size = 0
        self._flow = flow  # flow(False) pauses reading from the client, flow(True) resumes
        self._waiter: asyncio.Future[None] | None = None
        self._unsent = 0
        self._sent = 0

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        self._unsent += len(data)
        if self._unsent > _HIGH_WATER:
            self._flow(False)
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._wake()

    @property
    def complete_bytes(self) -> bytes | None:
        """The whole body if it has fully arrived and was kept, else None."""
        if self.done and (self.retain or self._sent == 0):
            return b"".join(self.chunks)
        return None

    def _wake(self, _: object = None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self, until: asyncio.Future[Any] | None = None) -> AsyncIterator[bytes]:
        """Yield the body's pieces as they arrive; stop early once ``until`` is done."""
        self.read_all = False
        if until is not None:
            until.add_done_callback(self._wake)
        try:
            async for data in self._read(until):
                yield data
        finally:
            if until is not None:
                until.remove_done_callback(self._wake)

    async def _read(self, until: asyncio.Future[Any] | None) -> AsyncIterator[bytes]:
        index = 0
        while True:
            if self.error is not None:
                raise self.error
            if until is not None and until.done():
                return
            if index < len(self.chunks):
                data = self.chunks[index]
                if not self.retain:
                    self.chunks[index] = b""
                index += 1
                self._sent += 1
                self._unsent = max(0, self._unsent - len(data))
                if self._unsent <= _HIGH_WATER // 2:
                    self._flow(True)
                yield data
            elif self.done:
                self.read_all = True
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                self._waiter = None
