"""The demo's HTML report: verdict first, then one row per phase, a chart, the timeline."""

from __future__ import annotations

from html import escape

from strangler.demo.journey import Outcome, Phase

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,th:first-child,td.l{text-align:left}.ok{color:#15803d}.bad{color:#b91c1c;font-weight:bold}
.verdict{font-size:1.3rem;padding:.6rem 1rem;border-radius:.3rem;display:inline-block}
.pass{background:#dcfce7}.fail{background:#fee2e2}code{background:#f4f4f4;padding:0 .2rem}
"""


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _row(p: Phase) -> str:
    errors = f'<td class="{"bad" if p.client_errors else "ok"}">{p.client_errors}</td>'
    cells = [f'<td class="l">{escape(p.name)}</td>', f"<td>{p.started:.0f}s</td>",
             f"<td>{p.ended - p.started:.0f}s</td>", f'<td class="l">{escape(p.routing)}</td>',
             f"<td>{p.requests:,}</td>", errors, f"<td>{_pct(p.extracted_share)}</td>",
             f"<td>{_pct(p.write_share)}</td>",
             f"<td>{p.shadow_samples:,}</td>", f"<td>{_pct(p.match_rate, 2)}</td>",
             f'<td class="l">{escape(p.reconciliation or "-")}</td>',
             f'<td class="l">{"<br>".join(escape(n) for n in p.notes) or "-"}</td>']
    return "<tr>" + "".join(cells) + "</tr>"


def _chart(phases: list[Phase]) -> str:
    """Bars: the measured share of ledger reads (blue) and writes (green) the ledger service served."""
    width, height, bar = 60 * max(len(phases), 1) + 40, 180, 18
    parts = [f'<svg width="{width}" height="{height + 60}" role="img" '
             'aria-label="share of ledger reads and writes served by the extracted service, per phase">',
             f'<line x1="30" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>',
             f'<text x="0" y="14" font-size="11">100%</text><text x="8" y="{height}" font-size="11">0</text>']
    for i, p in enumerate(phases):
        x = 40 + i * 60
        for offset, what, share, colour in ((0, "reads", p.extracted_share, "#2563eb"),
                                            (bar, "writes", p.write_share, "#15803d")):
            h = (share or 0.0) * (height - 20)
            fill = "#b91c1c" if p.client_errors else colour
            parts.append(f'<rect x="{x + offset}" y="{height - h:.1f}" width="{bar}" height="{h:.1f}" '
                         f'fill="{fill}"><title>{escape(p.name)}: {what} {_pct(share)}</title></rect>')
        parts.append(f'<text x="{x}" y="{height + 14}" font-size="10" '
                     f'transform="rotate(30 {x} {height + 14})">{escape(p.name[:18])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(outcome: Outcome) -> str:
    if outcome.ok:
        verdict = ('<span class="verdict pass">the ledger was strangled, reads and writes; '
                   'no invariant broke</span>')
    elif outcome.stopped_at:
        verdict = (f'<span class="verdict fail">stopped at the gate: {escape(outcome.stopped_at)}</span>'
                   "<ul>" + "".join(f"<li>{escape(e)}</li>" for e in outcome.evidence) + "</ul>")
    else:
        verdict = '<span class="verdict fail">the journey did not complete</span>'
    broken = "".join(f'<li class="bad">{escape(b)}</li>' for b in outcome.broken)
    header = ("<tr><th>phase</th><th>at</th><th>took</th><th>routing</th><th>client requests</th>"
              "<th>client-visible errors</th><th>reads served by ledger service</th>"
              "<th>writes served by ledger service</th><th>shadow samples</th>"
              "<th>shadow match rate</th><th>reconciliation</th><th>notes</th></tr>")
    timeline = "".join(f"<tr><td>+{t:.1f}s</td><td class=\"l\">{escape(e)}</td></tr>"
                       for t, e in outcome.timeline)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>strangler demo</title>
<style>{_STYLE}</style></head><body>
<h1>strangler demo: the ledger, reads then writes, from the monolith to its own service</h1>
<p>{verdict}</p>{f"<ul>{broken}</ul>" if broken else ""}
<h2>Phases</h2><table>{header}{"".join(_row(p) for p in outcome.phases)}</table>
<p>Client-visible errors are requests the legacy client got no answer to, or a 5xx for; the
shares served by the ledger service are measured from the proxies' per-route counts (reads:
balance and transaction history; writes: credit, debit, transfer). Shadow samples count the
copies compared in the phase: the reads' in the read shadow, the writes' (dry runs) in the write
shadow.</p>
<h2>Share of ledger reads (blue) and writes (green) served by the ledger service</h2>{_chart(outcome.phases)}
<h2>Timeline</h2><table>{timeline}</table>
<p>Reproduce: <code>strangler demo</code>; the same run's data: the JSON file next to this one.</p>
</body></html>
"""
