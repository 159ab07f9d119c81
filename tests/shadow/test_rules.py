"""The declarative rules file: valid files become typed rules; broken ones name file, line and fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shadow.errors import RulesFileError
from shadow.rules import parse_rules, parse_rules_file

GOOD = """\
[defaults]
ignore = ["/meta/generated_at"]

[capabilities."wallets"]
sample_percent = 25
timeout_ms = 500
dry_run = true
unordered = [{ path = "/results", key = "id" }]
numeric = [{ path = "/**/rate", tolerance = 0.01 }]
accept = [{ path = "/x", kind = "changed", reason = "JIRA-1", expires = 2030-01-01 }]
"""


def test_a_valid_file_becomes_typed_rules_merged_with_defaults() -> None:
    rules = parse_rules(GOOD, "r.toml").for_capability("wallets")
    assert rules.sample_percent == 25 and rules.timeout_s == 0.5 and rules.dry_run
    assert [p.text for p in rules.ignore] == ["/meta/generated_at"]
    assert rules.unordered[0].key == "id"
    assert rules.numeric[0].path.matches("/a/b/rate") and not rules.numeric[0].path.matches("/rates")
    assert rules.accepted[0].expires == date(2030, 1, 1)


def test_a_capability_without_rules_gets_the_defaults() -> None:
    rules = parse_rules(GOOD).for_capability("payouts")
    assert rules.name == "payouts" and [p.text for p in rules.ignore] == ["/meta/generated_at"]
    assert not rules.dry_run


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[capabilities."w"]\nsample_percent = 150\n', 2, "sample_percent"),
        ('[capabilities."w"]\nignore = ["results/id"]\n', 2, "JSON Pointer"),
        (
            '[capabilities."w"]\nnormalise = [{ path = "/a", pattern = "(", replace = "" }]\n',
            2,
            "regular expression",
        ),
        ('[capabilities."w"]\naccept = [{ path = "/a", reason = "r", expires = "soon" }]\n', 2, "date"),
        ('[capabilities."w"]\nunordered = [{ key = "id" }]\n', 1, "needs"),
        ('[capabilities."w"]\nsurprise = 1\n', 2, "unknown key"),
        ('[capabilities."w"\n', 1, "TOML"),
        (
            '[capabilities."w"]\n'
            'accept = [{ path = "/a", kind = "weird", reason = "r", expires = 2030-01-01 }]\n',
            2,
            "kind",
        ),
    ],
)
def test_a_broken_file_is_refused_with_its_line_and_a_fix(text: str, line: int, words: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, "rules.toml")
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value) and "Fix:" in str(caught.value)
    assert str(caught.value).startswith(f"rules.toml:{line}:")


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read"):
        parse_rules_file(tmp_path / "missing.toml")
