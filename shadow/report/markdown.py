"""The Markdown report, for CI job summaries and pull requests."""

from __future__ import annotations

from shadow.aggregate import Summary
from shadow.evidence import GateEvidence
from shadow.report.common import ms, noise_rows, pct, short


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None) -> str:
    lines = [
        f"# {title}",
        "",
        f"- samples: **{summary.total}**, matched: {summary.matched}, "
        f"match rate: **{pct(summary.match_rate)}**"
        + (f" (fail under {fail_under:g} %)" if fail_under is not None else ""),
        f"- outcomes: {', '.join(f'{k} {v}' for k, v in sorted(summary.outcomes.items())) or 'none'}",
        f"- side effects: {summary.effect_checked} writes checked, {summary.effect_diffs} with differences",
        f"- gate evidence: **{evidence.verdict}** — {evidence.detail}",
    ]
    if summary.flags:
        lines.append(f"- flags: {', '.join(f'{k} {v}' for k, v in sorted(summary.flags.items()))}")
    lines += ["", "## Latency", "", "| | primary | candidate |", "|---|---|---|"]
    for q, row in summary.latency().items():
        lines.append(f"| {q} | {ms(row['primary'])} | {ms(row['candidate'])} |")
    lines += ["", "## Differences", ""]
    groups = summary.top_groups()
    if not groups:
        lines.append("No differences.")
    else:
        lines += [
            "| capability | path | kind | count | sample (primary → candidate) |",
            "|---|---|---|---|---|",
        ]
        for g in groups:
            s = g.samples[0] if g.samples else {}
            sample = (
                f"{short(s.get('primary'))} → {short(s.get('candidate'))} ({s.get('request_id')})"
                if "where" in s
                else short(s.get("error", ""))
            )
            lines.append(
                f"| {_cell(g.capability)} | `{_cell(g.path)}` | {g.kind} | {g.count} | {_cell(sample)} |"
            )
    if summary.noise:
        lines += ["", "## Noise cancelled (primary and secondary disagree too)", ""]
        lines += [f"- `{path}`: {count}" for path, count in summary.noise.most_common(20)]
    lines += _noise_rates(summary)
    return "\n".join(lines) + "\n"


def _noise_rates(summary: Summary) -> list[str]:
    rows = noise_rows(summary)
    if not rows:
        return []
    lines = ["", "## Noise rate per path (a candidate difference counts only above it)", "",
             "| capability | path | samples | noise rate | candidate rate | verdict |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {_cell(r['capability'])} | `{_cell(r['path'])}` | {r['samples']} | {pct(r['noise_rate'])} "
              f"| {pct(r['candidate_rate'])} | {r['verdict']} |" for r in rows]
    return lines
