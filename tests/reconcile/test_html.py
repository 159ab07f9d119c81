"""The HTML report renders summary first, drills down by category, wallet and day, and escapes."""

from __future__ import annotations

from typing import Any

from reconcile import html

SUMMARY = {"capability": "ledger", "run_id": 7, "status": "breaks",
           "mapping": {"source": "ledger.toml", "version_hash": "abc"},
           "comparisons": [{"name": "balances", "status": "breaks", "breaks": 1, "pending": 0,
                            "legacy": {"rows": 10, "checksum": "aa"},
                            "extracted": {"rows": 10, "checksum": "bb"}}]}
EVIL = "<script>alert('x')</script>"
ROWS: list[dict[str, Any]] = [
    {"category": "mismatch", "comparison": "balances", "key": "2|INR|2025-01-02", "column": "net",
     "legacy": "1.00", "extracted": "2.00", "difference": "1.00", "wallet": 2, "day": "2025-01-02",
     "state": "open"},
    {"category": "mismatch", "comparison": "transactions", "key": "9", "column": "reference",
     "legacy": EVIL, "extracted": "ref-9", "difference": None, "wallet": None, "day": None,
     "state": "acknowledged"},
]


def test_summary_comes_before_the_drill_down_sections_in_order() -> None:
    page = html.render(SUMMARY, ROWS)
    positions = [page.index(s) for s in ("<h2>Summary</h2>", "<h2>By category</h2>",
                                         "<h2>By wallet</h2>", "<h2>By day</h2>")]
    assert positions == sorted(positions)
    assert 'class="breaks"' in page and "2025-01-02" in page and "wallet: 2 (1)" in page


def test_every_value_is_escaped_and_the_page_has_no_script() -> None:
    page = html.render(SUMMARY, ROWS)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_long_sections_are_capped_with_a_pointer_to_the_csv() -> None:
    many = [dict(ROWS[0], key=str(i)) for i in range(html.MAX_ROWS_PER_SECTION + 3)]
    assert "3 more not shown: see the CSV report." in html.render(SUMMARY, many)
