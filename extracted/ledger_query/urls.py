"""URLconf of the ledger service: the legacy read and write endpoints, health and metrics."""

from django.urls import path, register_converter

from extracted.ledger_query import health, port_api, read_path, write_path


class IdConverter:
    # as monolith.api_urls (which imports every monolith view): longer ids cannot exist -> 404
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
    path("api/v1/wallets/<id:wallet_id>/balance/", read_path.balance),
    path("api/v1/wallets/<id:wallet_id>/transactions/", read_path.transactions),
    # the write path (write_path): the monolith's contract, dry run for shadow copies
    path("api/v1/wallets/<id:wallet_id>/credit/", write_path.credit),
    path("api/v1/wallets/<id:wallet_id>/debit/", write_path.debit),
    path("api/v1/transfers/", write_path.transfer),
    # the monolith's ledger port (monolith.wallets.ledger_port): payout debits and reversals
    path("internal/v1/wallets/<id:wallet_id>/postings/", port_api.postings),
    path("internal/v1/events/", port_api.events),
]

# Unknown URLs and crashes are the legacy JSON errors on /api/ paths, as in the monolith.
handler404 = "monolith.common.errors.json_not_found"
handler500 = "monolith.common.errors.json_server_error"
