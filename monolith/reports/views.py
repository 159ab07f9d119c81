"""``GET /api/v1/reports/daily/?from=YYYY-MM-DD&to=YYYY-MM-DD``."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from monolith.common.api import LegacyAPIView
from monolith.common.errors import validation_error
from monolith.common.money import format_paise
from monolith.reports.services import ReportRangeError, daily_totals, parse_range


class DailyReportView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        try:
            start, end = parse_range(request.query_params.get("from"),
                                     request.query_params.get("to"))
        except ReportRangeError as exc:
            raise validation_error(exc.field, exc.message) from exc
        days = [
            {"date": d.day.isoformat(), "credits": format_paise(d.credits),
             "debits": format_paise(d.debits), "count": d.count}
            for d in daily_totals(self.merchant.pk, start, end)
        ]
        return Response({"from": start.isoformat(), "to": end.isoformat(), "days": days})
