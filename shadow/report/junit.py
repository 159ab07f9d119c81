"""The JUnit XML report: one test case per capability plus one per difference group, for CI."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from shadow.aggregate import Summary
from shadow.evidence import GateEvidence
from shadow.report.common import pct, short


def render(summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None) -> str:
    groups = summary.top_groups(200)
    suite = ET.Element("testsuite", name=title, tests=str(1 + len(groups)),
                       failures=str(len(groups) + (0 if _passes(summary, fail_under) else 1)))
    case = ET.SubElement(suite, "testcase", classname="shadow", name="match_rate")
    if not _passes(summary, fail_under):
        ET.SubElement(case, "failure", message=f"match rate {pct(summary.match_rate)} over {summary.total} "
                      f"samples; needs {fail_under} %").text = evidence.detail
    for group in groups:
        case = ET.SubElement(suite, "testcase", classname=f"shadow.{group.capability}",
                             name=f"{group.path} {group.kind}")
        failure = ET.SubElement(case, "failure", message=f"{group.count} requests differ at {group.path} "
                                f"({group.kind})")
        failure.text = "\n".join(short(s, 400) for s in group.samples)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _passes(summary: Summary, fail_under: float | None) -> bool:
    from shadow.report import passed

    return passed(summary, fail_under)
