"""The HTML report: match rate over time as an inline SVG chart (no JS), top differing paths, latency."""

from __future__ import annotations

from html import escape

from shadow.aggregate import Summary
from shadow.evidence import GateEvidence
from shadow.report.common import ms, noise_rows, pct, short

WIDTH, HEIGHT, PAD = 640, 200, 30


def chart(summary: Summary) -> str:
    """A polyline of the match rate per time bucket, 0-100 % on the y axis."""
    points = [(at, m / t) for at, (m, t) in sorted(summary.timeline.items()) if t]
    if not points:
        return "<p>No observations.</p>"
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)
    coords = [
        (PAD + i * step, HEIGHT - PAD - rate * (HEIGHT - 2 * PAD)) for i, (_, rate) in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(at.isoformat())}: {rate:.2%}'
        f"</title></circle>"
        for (x, y), (at, rate) in zip(coords, points, strict=True)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="match rate over time">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
        f'<text x="2" y="{PAD + 4}" font-size="10">100%</text>'
        f'<text x="2" y="{HEIGHT - PAD + 4}" font-size="10">0%</text>'
        f'<polyline fill="none" stroke="#2a7" stroke-width="2" points="{line}"/>{dots}</svg>'
    )


def render(summary: Summary, evidence: GateEvidence, title: str, fail_under: float | None) -> str:
    rows = []
    for g in summary.top_groups():
        samples = "".join(f"<li><code>{escape(short(s, 300))}</code></li>" for s in g.samples)
        rows.append(
            f"<tr><td>{escape(g.capability)}</td><td><code>{escape(g.path)}</code></td>"
            f"<td>{escape(g.kind)}</td><td>{g.count}</td><td><ul>{samples}</ul></td></tr>"
        )
    noise = "".join(
        f"<tr><td>{escape(r['capability'])}</td><td><code>{escape(r['path'])}</code></td>"
        f"<td>{r['samples']}</td><td>{pct(r['noise_rate'])}</td><td>{pct(r['candidate_rate'])}</td>"
        f"<td>{r['verdict']}</td></tr>"
        for r in noise_rows(summary)
    )
    latency = "".join(
        f"<tr><td>{q}</td><td>{ms(r['primary'])}</td><td>{ms(r['candidate'])}</td></tr>"
        for q, r in summary.latency().items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}</style></head><body>
<h1>{escape(title)}</h1>
<p>Samples <b>{summary.total}</b>, match rate <b>{pct(summary.match_rate)}</b>
{"" if fail_under is None else f"(fail under {fail_under:g} %)"};
side effects: {summary.effect_checked} writes checked, {summary.effect_diffs} differing.
Gate evidence: <b>{escape(evidence.verdict)}</b> — {escape(evidence.detail)}</p>
<h2>Match rate over time</h2>
{chart(summary)}
<h2>Top differing paths</h2>
<table><tr><th>capability</th><th>path</th><th>kind</th><th>count</th><th>samples</th></tr>
{"".join(rows) or '<tr><td colspan="5">No differences.</td></tr>'}</table>
<h2>Noise rate per path</h2>
<p>How often primary and secondary disagree per field; a candidate difference counts only above it.</p>
<table><tr><th>capability</th><th>path</th><th>samples</th><th>noise rate</th><th>candidate rate</th>
<th>verdict</th></tr>
{noise or '<tr><td colspan="6">No noise seen (or no secondary).</td></tr>'}</table>
<h2>Latency</h2>
<table><tr><th></th><th>primary</th><th>candidate</th></tr>{latency}</table>
</body></html>
"""
