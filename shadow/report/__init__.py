"""Reports of a shadow Summary: markdown, junit, json, html. Pure renderers; ``render`` picks one."""

from __future__ import annotations

from shadow.aggregate import Summary
from shadow.evidence import GateEvidence
from shadow.report import html, json_report, junit, markdown

FORMATS = ("markdown", "junit", "json", "html")


def render(fmt: str, summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None) -> str:
    renderer = {"markdown": markdown.render, "junit": junit.render, "json": json_report.render,
                "html": html.render}[fmt]
    return renderer(summary, evidence, title, fail_under)


def passed(summary: Summary, fail_under: float | None) -> bool:
    """No observations never passes; otherwise the match rate (percent) must reach ``fail_under``."""
    if summary.match_rate is None:
        return False
    return fail_under is None or summary.match_rate * 100 >= fail_under
