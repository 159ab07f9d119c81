"""The mitmproxy addon behind ``strangler capture``: redact each finished flow and append it to a flow file.

Loaded by mitmdump (``mitmdump --mode reverse:URL -s addon.py --set strangler_out=…``),
usually from the separate mitmproxy virtualenv (see ``runtime``), so it imports only
mitmproxy and the standard library, plus its two stdlib siblings loaded by path.

Writing, so that no stop leaves a torn file behind:

- flows go to ``strangler_out`` (the ``.partial`` file the CLI created), one record
  per finished flow, serialised by ``mitmproxy.io.FlowWriter`` into memory and handed
  to the kernel in one ``write``: a killed process loses at most the flow it was
  writing, and every record before it stays whole (``flowfile.scan`` reads them);
- on a clean stop (SIGINT/SIGTERM, ``--max-flows``, or the CLI going away, which
  closes our stdin when ``strangler_lifeline`` is on) the file is fsynced and moved
  to ``strangler_final`` without overwriting anything there.

The client always gets the untouched response: redaction works on a copy of the flow.
Events for the CLI (listening, one per flow, done) are JSON lines on ``strangler_events_fd``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.io import FlowWriter

log = logging.getLogger("strangler.capture")
RECORDED = "strangler_recorded"


def _sibling(name: str) -> ModuleType:
    """A stdlib-only module next to this file, without needing the toolkit importable."""
    spec = importlib.util.spec_from_file_location(f"_strangler_capture_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with this one
        raise ImportError(f"cannot load {name}.py next to {__file__}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


redaction = _sibling("redaction")


def _redact_message(message: http.Message) -> None:
    for name in {k.lower() for k in message.headers}:
        values = message.headers.get_all(name)
        cleaned = [redaction.redact_header(name, v) for v in values]
        if cleaned != values:
            message.headers.set_all(name, cleaned)
    body = message.get_content(strict=False)
    if body:
        cleaned_body = redaction.redact_body(body, message.headers.get("content-type", ""))
        if cleaned_body is not body and cleaned_body != body:
            try:
                message.content = cleaned_body
            except ValueError:  # an encoding we cannot re-apply: store it plain
                message.headers.pop("content-encoding", None)
                message.raw_content = cleaned_body
                if "transfer-encoding" not in message.headers:
                    message.headers["content-length"] = str(len(cleaned_body))


def redacted_copy(flow: http.HTTPFlow) -> http.HTTPFlow:
    """A copy of ``flow`` fit for the flow file: the live flow (and so the client) is untouched."""
    copy = flow.copy()
    request = copy.request
    path, sep, query = request.path.partition("?")
    if sep:
        cleaned_query = redaction.redact_query(query)
        if cleaned_query != query:
            request.path = f"{path}?{cleaned_query}"
    _redact_message(request)
    if copy.response is not None:
        _redact_message(copy.response)
    return copy


class Capture:
    def __init__(self) -> None:
        self.fd: int | None = None
        self.flows = 0
        self.stopping = False
        self.closed = False

    def load(self, loader: Any) -> None:
        loader.add_option("strangler_out", str, "", "append redacted flows to this (.partial) file")
        loader.add_option("strangler_final", str, "", "on a clean stop, move the file here (no overwrite)")
        loader.add_option("strangler_max_flows", int, 0, "stop after this many flows (0: no limit)")
        loader.add_option("strangler_events_fd", int, -1, "file descriptor for JSON-line events (-1: none)")
        loader.add_option("strangler_lifeline", bool, False, "stop cleanly when stdin closes (the CLI died)")

    # -- events ---------------------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        fd = ctx.options.strangler_events_fd
        if fd < 0:
            return
        line = json.dumps({"event": event, **fields}, separators=(",", ":")).encode() + b"\n"
        with contextlib.suppress(OSError):  # the CLI is gone: keep recording, the lifeline stops us
            os.write(fd, line)

    # -- lifecycle ------------------------------------------------------------------------------

    def running(self) -> None:
        out = ctx.options.strangler_out
        if not out:
            log.error("strangler capture: no strangler_out file given")
            ctx.master.shutdown()
            return
        self.fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if ctx.options.strangler_lifeline:
            asyncio.get_running_loop().add_reader(sys.stdin.fileno(), self._lifeline)
        self.emit("listening", pid=os.getpid())

    def _lifeline(self) -> None:
        try:
            data = os.read(sys.stdin.fileno(), 1024)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
            self.stop("the strangler capture command went away")

    def stop(self, why: str) -> None:
        if not self.stopping:
            self.stopping = True
            log.info(f"strangler capture: stopping ({why})")
            ctx.master.shutdown()

    def done(self) -> None:
        if self.fd is None or self.closed:
            return
        self.closed = True
        os.fsync(self.fd)
        os.close(self.fd)
        out, final = ctx.options.strangler_out, ctx.options.strangler_final
        if final:
            try:
                os.link(out, final)  # fails rather than overwrite
                os.unlink(out)
            except FileExistsError:
                self.emit("error", message=f"{final} appeared meanwhile; the flows stay in {out}")
                return
            except OSError:
                os.rename(out, final)  # a file system without hard links
            directory = os.open(os.path.dirname(os.path.abspath(final)), os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self.emit("done", flows=self.flows, path=final or out)

    # -- flows ----------------------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            self.record(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.record(flow)

    def record(self, flow: http.HTTPFlow) -> None:
        limit = ctx.options.strangler_max_flows
        if self.fd is None or flow.metadata.get(RECORDED) or (limit and self.flows >= limit):
            return
        buffer = io.BytesIO()
        FlowWriter(buffer).add(redacted_copy(flow))
        data = memoryview(buffer.getvalue())
        while data:
            written = os.write(self.fd, data)
            data = data[written:]
        flow.metadata[RECORDED] = True  # an error after the response must not record it twice
        self.flows += 1
        response = flow.response
        self.emit("flow", n=self.flows, method=flow.request.method,
                  path=redaction.redact_text(flow.request.path.split("?", 1)[0]),
                  status=response.status_code if response is not None else None,
                  error=flow.error.msg if flow.error is not None else None)
        if limit and self.flows >= limit:
            self.stop(f"--max-flows {limit} reached")


addons = [Capture()]
