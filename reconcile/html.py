"""HTML report of a reconciliation run: one self-contained page for finance. Pure.

Summary first (status, mapping, counts and checksums per comparison), then drill-down
by category, by wallet and by day. No scripts, no external assets; every value from the
databases is escaped, since legacy text columns hold whatever clients once sent.

Input is plain data, so a stored run (control plane) and a fresh one render alike:
``summary`` as in a manifest, ``discrepancies`` as flat dicts with the keys in ``COLUMNS``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

COLUMNS = ("category", "comparison", "key", "column", "legacy", "extracted", "difference",
           "wallet", "day", "state")
MAX_ROWS_PER_SECTION = 500  # a page finance can open; the CSV has every row

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:2px 8px;
text-align:left}th{background:#f3f3f3}.clean{color:#17702c}.breaks{color:#b00020}
.incomplete,.failed{color:#a65e00}td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(prefix: str, value: Any) -> str:
    return prefix + "-" + "".join(c if c.isalnum() else "_" for c in str(value))


def _detail(items: Sequence[Mapping[str, Any]]) -> str:
    shown = items[:MAX_ROWS_PER_SECTION]
    more = len(items) - len(shown)
    note = f"<p>{more} more not shown: see the CSV report.</p>" if more > 0 else ""
    return _table(COLUMNS, ([d.get(c) for c in COLUMNS] for d in shown)) + note


def _grouped(title: str, prefix: str, discrepancies: Sequence[Mapping[str, Any]],
             field: str) -> str:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in discrepancies:
        value = d.get(field)
        groups["(none)" if value in (None, "") else str(value)].append(d)
    if not groups:
        return f"<h2>{_e(title)}</h2><p>None.</p>"
    index = "".join(f'<li><a href="#{_anchor(prefix, k)}">{_e(k)}</a>: {len(v)}</li>'
                    for k, v in sorted(groups.items()))
    sections = "".join(f'<h3 id="{_anchor(prefix, k)}">{_e(title)}: {_e(k)} ({len(v)})</h3>'
                       + _detail(v) for k, v in sorted(groups.items()))
    return f"<h2>{_e(title)}</h2><ul>{index}</ul>{sections}"


def render(summary: Mapping[str, Any], discrepancies: Sequence[Mapping[str, Any]]) -> str:
    """The whole page: summary, then drill-down by category, wallet and day."""
    status = str(summary.get("status", ""))
    mapping = summary.get("mapping") or {}
    facts = [("capability", summary.get("capability")), ("run", summary.get("run_id")),
             ("status", status), ("mapping", mapping.get("source")),
             ("mapping version", mapping.get("version_hash")),
             ("started", summary.get("started_at")), ("finished", summary.get("finished_at")),
             ("discrepancies", len(discrepancies))]
    comparisons = [(c.get("name"), c.get("status"), c.get("legacy", {}).get("rows"),
                    c.get("legacy", {}).get("checksum"), c.get("extracted", {}).get("rows"),
                    c.get("extracted", {}).get("checksum"), c.get("breaks"), c.get("pending"),
                    "; ".join(c.get("incomplete_reasons") or ()))
                   for c in summary.get("comparisons") or ()]
    states = Counter(str(d.get("state") or "open") for d in discrepancies)
    title = f"Reconciliation {summary.get('capability', '')} run {summary.get('run_id', '')}"
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f'<h1>{_e(title)}: <span class="{_e(status)}">{_e(status)}</span></h1>',
        "<h2>Summary</h2>", _table(("", ""), facts),
        _table(("comparison", "status", "legacy rows", "legacy checksum", "extracted rows",
                "extracted checksum", "breaks", "pending", "incomplete because"), comparisons),
        _table(("state", "discrepancies"), sorted(states.items())),
        _grouped("By category", "cat", discrepancies, "category"),
        _grouped("By wallet", "wallet", discrepancies, "wallet"),
        _grouped("By day", "day", discrepancies, "day"),
        "</body></html>\n",
    ])
