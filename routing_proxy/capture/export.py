"""Read a mitmproxy flow file with mitmproxy's own FlowReader and hand out its HTTP exchanges as plain dicts.

Used by ``shadow.replay``: in-process when this interpreter has mitmproxy, else run
in the mitmproxy virtualenv as ``python export.py FILE``, which prints one JSON object
per exchange and a last ``{"summary": …}`` line. Only whole records are read: a torn
tail (a capture killed mid-write) is reported in the summary, not raised. Imports
only mitmproxy and the standard library (plus ``flowfile``, loaded by path).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

EXIT_BAD_FILE = 65


def _flowfile() -> ModuleType:
    try:
        from routing_proxy.capture import flowfile
    except ImportError:  # running in the mitmproxy virtualenv, without the toolkit
        spec = importlib.util.spec_from_file_location("_strangler_capture_flowfile",
                                                      Path(__file__).with_name("flowfile.py"))
        assert spec is not None and spec.loader is not None
        flowfile = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = flowfile
        spec.loader.exec_module(flowfile)
    return flowfile


class FlowFileError(Exception):
    """The file is not a mitmproxy flow file mitmproxy can read."""


def exchanges(data: bytes, summary: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every HTTP flow in the whole records of ``data``; ``summary`` gets counts and any torn tail."""
    from mitmproxy import exceptions, http
    from mitmproxy.io import FlowReader

    found = _flowfile().scan(data)
    summary.update(flows=0, skipped=0, records=found.records, torn_bytes=found.torn_bytes,
                   problem=found.problem)
    if found.records == 0 and found.torn_bytes:
        raise FlowFileError(f"not a mitmproxy flow file ({found.problem})")
    try:
        for flow in FlowReader(io.BytesIO(data[:found.end])).stream():
            if not isinstance(flow, http.HTTPFlow):
                summary["skipped"] += 1  # TCP, UDP, DNS: nothing to replay over HTTP
                continue
            request = flow.request
            summary["flows"] += 1
            yield {
                "flow_id": flow.id,
                "method": request.method,
                "target": request.path,
                "headers": [[n, v] for n, v in request.headers.items(multi=True)],
                "body_b64": base64.b64encode(request.raw_content or b"").decode("ascii"),
                "status": flow.response.status_code if flow.response is not None else None,
            }
    except exceptions.FlowReadException as exc:
        raise FlowFileError(f"mitmproxy cannot read it ({exc})") from exc


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: export.py FLOW_FILE", file=sys.stderr)
        return 2
    try:
        data = Path(argv[0]).read_bytes()
    except OSError as exc:
        print(f"cannot read the flow file ({exc.strerror})", file=sys.stderr)
        return EXIT_BAD_FILE
    summary: dict[str, Any] = {}
    out = sys.stdout
    try:
        for exchange in exchanges(data, summary):
            out.write(json.dumps(exchange, separators=(",", ":")) + "\n")
    except FlowFileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_FILE
    out.write(json.dumps({"summary": summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
