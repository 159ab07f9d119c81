"""``strangler capture``: record real legacy traffic through mitmproxy (reverse mode) into a flow file.

Exit codes: 0 a capture stopped cleanly (Ctrl-C, SIGTERM, --max-flows, --duration)
and its file is complete; 1 mitmproxy died mid-capture (the whole flows recorded are
kept, see the message); 2 bad arguments; 69 mitmproxy cannot be installed or started,
the port is taken or the upstream is unreachable; 73 the output path is unusable.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from strangler.cli.argtypes import positive_float, positive_int

console = Console(stderr=True, highlight=False, soft_wrap=True)
DEFAULT_OUT = "flows/%Y%m%d-%H%M%S.flow"

DESCRIPTION = """\
Record real legacy traffic for replay in CI (`strangler shadow replay FILE`).

Clients (or a load generator) call http://LISTEN-HOST:LISTEN-PORT instead of the
monolith; mitmproxy in reverse mode forwards every request unchanged to --upstream
and returns its answer unchanged, and appends each finished exchange to a mitmproxy
flow file, with secrets redacted in the file only: Authorization (the scheme is
kept: "Api-Key [redacted]"), Cookie/Set-Cookie values, X-Api-Key, X-CSRFToken and any
header named like a key, token, secret or signature; in JSON and form bodies the
values of account_number, document_number, password, secret, token…; API keys
anywhere; and bank-account-like runs of 9-18 digits keep only their last four.

The file is written to OUT.partial, one whole flow at a time, and becomes OUT when
the capture stops: Ctrl-C, SIGTERM, --max-flows or --duration. If mitmproxy is
killed, the whole flows recorded so far are kept.

mitmproxy runs in its own virtualenv (it pins versions of h11 and asgiref older than
the toolkit's), created on first use, or with --setup, from the package index
($STRANGLER_MITMPROXY_VENV, default ~/.cache/strangler/mitmproxy-<version>-py<X.Y>).
If mitmproxy 11 is installed in this environment, that one is used instead.

Example:
  strangler capture --upstream http://127.0.0.1:8000 --listen-port 8080 \\
      --out flows/%Y%m%d.flow --max-flows 10000 --duration 3600
"""


def upstream_url(text: str) -> str:
    from routing_proxy.capture.errors import CaptureStartError
    from routing_proxy.capture.session import check_upstream_url

    try:
        check_upstream_url(text)
    except CaptureStartError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.rstrip("/")


def register(subparsers: Any) -> None:
    escaped_default = DEFAULT_OUT.replace("%", "%%")  # argparse %-formats help
    parser = subparsers.add_parser(
        "capture", help="record legacy traffic through mitmproxy into a flow file, secrets redacted",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=upstream_url, metavar="URL",
                        help="the monolith's base URL (default: the configured monolith, "
                             "http://127.0.0.1:$STRANGLER_MONOLITH_PORT)")
    parser.add_argument("--listen-port", type=positive_int, default=8080, metavar="PORT",
                        help="port clients call instead of the monolith (default 8080)")
    parser.add_argument("--listen-host", default="127.0.0.1", metavar="HOST",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="FILE",
                        help=f"flow file to write; strftime codes allowed (default {escaped_default}). "
                             "An existing file is never overwritten")
    parser.add_argument("--max-flows", type=positive_int, metavar="N", help="stop after N flows")
    parser.add_argument("--duration", type=positive_float, metavar="SECONDS",
                        help="stop after this many seconds of listening")
    parser.add_argument("--setup", action="store_true",
                        help="only install mitmproxy into its own virtualenv (if needed) and exit")
    parser.set_defaults(handler=cmd_capture)


class Progress:
    """A live flow counter on a terminal; a line per second at most otherwise (logs, CI)."""

    def __init__(self) -> None:
        self.live = console.is_terminal
        self.status: Any = None
        self.flows = 0
        self.last = ""
        self.printed_at = 0.0
        self.started = time.monotonic()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "listening":
            self.started = time.monotonic()
            if self.live:
                self.status = console.status(self._text())
                self.status.start()
        elif kind == "flow":
            self.flows = int(event["n"])
            answer = event.get("status") or event.get("error") or "no response"
            self.last = escape(f"{event['method']} {event['path']} → {answer}")
            if self.status is not None:
                self.status.update(self._text())
            elif time.monotonic() - self.printed_at >= 1.0:
                self.printed_at = time.monotonic()
                console.print(self._text())
        elif kind == "stopping":
            self.close()
            console.print(f"stopping: writing the last flows ({self.flows} so far) …")
        elif kind == "error":
            self.close()
            console.print(f"[bold red]error:[/] {escape(str(event.get('message')))}")

    def _text(self) -> str:
        seconds = int(time.monotonic() - self.started)
        text = f"recorded {self.flows} flows · {seconds // 60:02d}:{seconds % 60:02d}"
        hint = " · Ctrl-C stops" if self.live else ""
        return text + (f" · last: {self.last}" if self.last else "") + hint

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def cmd_capture(args: argparse.Namespace) -> int:
    from routing_proxy.capture import runtime
    from routing_proxy.capture.session import Capture, CaptureOptions, expand_out
    from strangler.config import get_settings

    mitm = runtime.ensure(lambda line: console.print(escape(line)))
    if args.setup:
        console.print(escape(f"mitmproxy is ready ({mitm.where}: {mitm.python})"))
        return 0
    settings = get_settings()
    options = CaptureOptions(
        upstream=(args.upstream or settings.monolith_url).rstrip("/"),
        out=expand_out(args.out),
        listen_port=args.listen_port,
        listen_host=args.listen_host,
        max_flows=args.max_flows,
        duration_s=args.duration,
    )
    progress = Progress()

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "listening":
            limits = [f"after {options.max_flows} flows" if options.max_flows else "",
                      f"after {options.duration_s:g}s" if options.duration_s else "", "on Ctrl-C"]
            until = " or ".join(x for x in limits if x)
            console.print(escape(
                f"capturing: http://{options.listen_host}:{options.listen_port} → {options.upstream} "
                f"(mitmproxy pid {event.get('pid')}), writing {options.out}; stops {until}"))
        progress(event)

    capture = Capture(mitm, options, settings.home, on_event)
    try:
        result = capture.run()
    finally:
        progress.close()
    reason = {"interrupt": "stopped", "max-flows": "--max-flows reached", "duration": "--duration reached"}
    console.print(f"[bold green]captured {result.flows} flows[/] → " + escape(
        f"{result.path} ({reason.get(result.stopped_by, 'mitmproxy stopped')}); replay: strangler shadow "
        f"replay {result.path} --capability NAME --primary URL --candidate URL"))
    return 0

