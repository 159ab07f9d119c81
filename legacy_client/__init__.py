"""A legacy merchant integration and a load generator for the PayStream v1 API.

    transcript = run_scenario("http://127.0.0.1:8000", api_key=..., staff_username="ops",
                              staff_password="ops-dev-password")
    assert transcript.ok, transcript.failures

    report = run_load("http://127.0.0.1:8000", api_keys=[...], concurrency=16, duration_s=30)
    rich.print(report.table())
"""

from legacy_client.errors import LegacyClientError, LoadConfigError, ServerUnreachableError
from legacy_client.load import LoadReport, run_load
from legacy_client.scenario import run_scenario
from legacy_client.stats import Mix, percentile
from legacy_client.transcript import Exchange, Failure, Transcript

__all__ = [
    "Exchange",
    "Failure",
    "LegacyClientError",
    "LoadConfigError",
    "LoadReport",
    "Mix",
    "ServerUnreachableError",
    "Transcript",
    "percentile",
    "run_load",
    "run_scenario",
]
