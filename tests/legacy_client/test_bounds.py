"""Guard rails: loopback-only, bounded load runs; an unreachable server stops the scenario."""

from __future__ import annotations

import httpx
import pytest

from legacy_client import LoadConfigError, ServerUnreachableError, run_load, run_scenario
from legacy_client.load import check_loopback


def test_loopback_targets_are_accepted() -> None:
    check_loopback("http://127.0.0.1:8000")
    check_loopback("http://localhost:8000")


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000", "http://192.0.2.7"])
def test_non_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(LoadConfigError, match="only against loopback"):
        check_loopback(url)


@pytest.mark.parametrize(("concurrency", "duration"), [(0, 1.0), (1000, 1.0), (1, 0.0),
                                                        (1, 3600.0)])
def test_unbounded_load_runs_are_refused(concurrency: int, duration: float) -> None:
    with pytest.raises(LoadConfigError):
        run_load("http://127.0.0.1:1", api_keys=["k"], concurrency=concurrency,
                 duration_s=duration)


def test_scenario_stops_with_a_clear_error_when_nothing_answers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServerUnreachableError, match=r"healthz.*got no response"):
        run_scenario("http://127.0.0.1:1", api_key="k", staff_username="ops",
                     staff_password="pw", transport=httpx.MockTransport(refuse))
