"""Every error the routing proxy raises, in one place.

Hierarchy::

    RoutingProxyError
    ├── RouteTableError            a route table cannot be built or loaded
    │   ├── RouteFileError         the TOML file is unreadable or a value is invalid (file, line, fix)
    │   ├── RouteConflictError     two rules overlap or one makes the other unreachable
    │   ├── UpstreamPathError      a compatibility shim's upstream path does not fit its route
    │   └── StaleRouteTableError   a reload offered an older version than the one serving
    ├── UpstreamError              an upstream did not give a usable answer
    │   ├── UpstreamConnectError   could not connect
    │   ├── UpstreamTimeoutError   connected, but no (complete) answer in time
    │   ├── UpstreamProtocolError  the upstream spoke broken HTTP or hung up mid-answer
    │   ├── UpstreamStatusError    the upstream answered with a status that counts as failure (5xx)
    │   └── CircuitOpenError       the breaker refuses calls for now
    └── ClientRequestError         the client's request cannot be proxied; carries the HTTP status
                                   and the legacy ``error_code`` of the JSON answer

User-facing messages say what was wrong, what was kept, and what to do.
"""

from __future__ import annotations


class RoutingProxyError(Exception):
    """Base of every routing proxy error."""


class RouteTableError(RoutingProxyError):
    """A route table cannot be built; the table that was serving stays in place."""


class RouteFileError(RouteTableError):
    """A declarative route file is invalid."""

    def __init__(self, path: str, problem: str, fix: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}. Fix: {fix}")


class RouteConflictError(RouteTableError):
    """Two rules can match the same request (overlap) or one hides the other (unreachable)."""

    def __init__(self, problem: str, fix: str, first: str, second: str) -> None:
        self.problem = problem
        self.fix = fix
        self.first = first
        self.second = second
        super().__init__(f"{problem}. Fix: {fix}")


class UpstreamPathError(RouteTableError):
    """A route's ``upstream_path`` (``routing_proxy.rewrite``) is not a safe path for its route."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}")


class StaleRouteTableError(RouteTableError):
    """A reload offered a table older than the serving one; the serving one is kept."""

    def __init__(self, offered: int, serving: int) -> None:
        self.offered = offered
        self.serving = serving
        super().__init__(
            f"route table version {offered} is older than the serving version {serving}; "
            "kept the serving table. Publish a table with a higher version."
        )


class UpstreamError(RoutingProxyError):
    """An upstream did not give a usable answer."""

    def __init__(self, upstream: str, detail: str) -> None:
        self.upstream = upstream
        self.detail = detail
        super().__init__(f"upstream {upstream!r}: {detail}")


class UpstreamConnectError(UpstreamError):
    """The upstream refused or did not accept the connection."""


class UpstreamTimeoutError(UpstreamError):
    """The upstream accepted the request but did not answer in time."""


class UpstreamProtocolError(UpstreamError):
    """The upstream sent malformed HTTP or closed the connection mid-answer."""


class UpstreamStatusError(UpstreamError):
    """The upstream answered with a failure status; raised only where a fallback may follow."""

    def __init__(self, upstream: str, status: int) -> None:
        self.status = status
        super().__init__(upstream, f"answered {status}")


class CircuitOpenError(UpstreamError):
    """The upstream's circuit breaker is open; the call was not attempted."""


class ClientRequestError(RoutingProxyError):
    """The client's request cannot be proxied; answered with ``status`` and closed."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        super().__init__(f"{status} {error_code}: {message}")


class FenceMissError(UpstreamError):
    """The extracted service could not vouch for a client's recent writes in time (see ``fence``).

    Not a failure of the service: it answered, it is only behind. The read falls back to
    the monolith and the circuit breaker counts it as a success.
    """
