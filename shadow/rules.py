"""Diff rules per capability: the declarative TOML file and the typed objects it becomes.

Pure apart from ``parse_rules_file`` reading its one file. File format::

    [defaults]                         # every capability starts from these
    headers = ["content-type"]         # response headers compared (lower-cased)
    ignore = ["/meta/generated_at"]    # JSON Pointer patterns; * = one segment, ** = any depth

    [capabilities."wallets"]
    sample_percent = 100               # share of requests copied to the candidate, 0..100
    timeout_ms = 2000                  # candidate (and secondary) answer deadline
    dry_run = true                     # candidate supports X-Strangler-Shadow: writes are shadowed
    candidate = "http://127.0.0.1:8001"  # where copies go (default: the proxy's extracted upstream)
    ignore = ["/results/*/updated_at"]
    unordered = [{ path = "/results", key = "id" }]
    numeric = [{ path = "/**/rate", tolerance = 0.001 }]
    timestamps = [{ path = "/created_at", seconds = 2 }]
    normalise = [{ path = "/reference", pattern = "^REF-[0-9]+$", replace = "REF-#" }]
    side_effects_ignore = ["/*/data/entry_id"]
    accept = [{ path = "/status_text", kind = "changed", reason = "JIRA-12 wording", expires = 2026-12-31 }]

A broken file raises ``RulesFileError`` naming the file, the line and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from shadow.errors import RulesFileError

KINDS = frozenset({"changed", "missing", "extra", "type", "order"})
_SEGMENT = re.compile(r"^[^/]*$")


@dataclass(frozen=True)
class PathPattern:
    """A JSON Pointer pattern: ``/results/*/amount``; ``*`` is one segment, ``**`` any number."""

    text: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def compile(cls, text: str) -> PathPattern:
        if text != "" and not text.startswith("/"):
            raise ValueError(f"path {text!r} must be a JSON Pointer starting with '/' (or '' for the root)")
        parts = []
        for segment in text.split("/")[1:]:
            if segment == "**":
                parts.append("(?:/[^/]*)*")
            elif segment == "*":
                parts.append("/[^/]*")
            else:
                parts.append("/" + re.escape(segment))
        return cls(text, re.compile("".join(parts) + r"\Z"))

    def matches(self, pointer: str) -> bool:
        return self.regex.match(pointer) is not None


@dataclass(frozen=True)
class UnorderedArray:
    path: PathPattern
    key: str | None  # items are matched by this field; None: compared as a multiset


@dataclass(frozen=True)
class Tolerance:
    path: PathPattern
    amount: float  # absolute numeric difference, or seconds for timestamps


@dataclass(frozen=True)
class Normaliser:
    path: PathPattern
    pattern: re.Pattern[str]
    replace: str


@dataclass(frozen=True)
class AcceptedDifference:
    path: PathPattern
    kind: str | None  # None accepts every kind at the path
    reason: str
    expires: date

    def covers(self, pointer: str, kind: str, today: date) -> bool:
        return (
            today <= self.expires and (self.kind is None or self.kind == kind) and self.path.matches(pointer)
        )


@dataclass(frozen=True)
class CapabilityRules:
    name: str = "*"
    sample_percent: float = 100.0
    timeout_s: float = 2.0
    dry_run: bool = False
    headers: tuple[str, ...] = ("content-type",)
    ignore: tuple[PathPattern, ...] = ()
    unordered: tuple[UnorderedArray, ...] = ()
    numeric: tuple[Tolerance, ...] = ()
    timestamps: tuple[Tolerance, ...] = ()
    normalisers: tuple[Normaliser, ...] = ()
    side_effects_ignore: tuple[PathPattern, ...] = ()
    accepted: tuple[AcceptedDifference, ...] = ()
    max_body: int = 1024 * 1024  # bodies over this are compared by hash and size, and flagged
    candidate: str | None = None  # base URL of this capability's candidate; None: the sink's default


@dataclass(frozen=True)
class RuleSet:
    defaults: CapabilityRules = CapabilityRules()
    capabilities: dict[str, CapabilityRules] = field(default_factory=dict)
    source: str = "<defaults>"

    def for_capability(self, name: str) -> CapabilityRules:
        found = self.capabilities.get(name)
        return found if found is not None else replace(self.defaults, name=name)


def parse_rules_file(path: str | Path) -> RuleSet:
    """Read a declarative TOML rules file into a RuleSet; ``RulesFileError`` names file, line and fix."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesFileError(source, f"cannot read the file ({exc.strerror})", "check the path") from exc
    return parse_rules(text, source)


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse rules from TOML text; pure."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))  # 3.11's TOMLDecodeError has no lineno attribute
        line = int(found.group(1)) if found else None
        raise RulesFileError(source, f"not valid TOML ({exc})", "fix the TOML syntax", line) from exc
    return _Reader(source, text).rule_set(data)


_LIST_KEYS = {
    "ignore",
    "unordered",
    "numeric",
    "timestamps",
    "normalise",
    "accept",
    "headers",
    "side_effects_ignore",
}
_KEYS = _LIST_KEYS | {"sample_percent", "timeout_ms", "dry_run", "max_body", "candidate"}
_URL = re.compile(r"^https?://[^/\s]+/?$")


class _Reader:
    """Turns parsed TOML into typed rules, naming file and line on every error."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    def line_of(self, needle: str, after: int = 0) -> int | None:
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if needle in line:
                return number
        return None

    def fail(self, problem: str, fix: str, line: int | None) -> RulesFileError:
        return RulesFileError(self.source, problem, fix, line)

    def rule_set(self, data: dict[str, Any]) -> RuleSet:
        unknown = set(data) - {"defaults", "capabilities"}
        if unknown:
            name = sorted(unknown)[0]
            raise self.fail(
                f"unknown top-level key {name!r}",
                'use only [defaults] and [capabilities."<name>"]',
                self.line_of(name),
            )
        defaults = self.capability(
            "*", data.get("defaults", {}), CapabilityRules(), self.line_of("[defaults]") or 0
        )
        capabilities = {}
        raw = data.get("capabilities", {})
        if not isinstance(raw, dict):
            raise self.fail(
                "`capabilities` is not a table", 'write [capabilities."<name>"]', self.line_of("capabilities")
            )
        for name, body in raw.items():
            at = self.line_of(f'"{name}"') or self.line_of(name) or 0
            capabilities[name] = self.capability(name, body, defaults, at)
        return RuleSet(defaults, capabilities, self.source)

    def capability(self, name: str, body: Any, base: CapabilityRules, at: int) -> CapabilityRules:
        where = "[defaults]" if name == "*" else f"capability {name!r}"
        if not isinstance(body, dict):
            raise self.fail(f"{where} is not a table", f'write [capabilities."{name}"] with keys', at or None)
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            raise self.fail(
                f"{where} has unknown key {unknown[0]!r}",
                f"use only {sorted(_KEYS)}",
                self.line_of(unknown[0], at) or at or None,
            )
        for key in _LIST_KEYS & set(body):
            if not isinstance(body[key], list):
                raise self.fail(
                    f"{where}: `{key}` is not a list",
                    f"write {key} = [ ... ]",
                    self.line_of(key, at) or at or None,
                )
        percent = body.get("sample_percent", base.sample_percent)
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            raise self.fail(
                f"{where}: sample_percent {percent!r} is not a number from 0 to 100",
                "write e.g. sample_percent = 10",
                self.line_of("sample_percent", at),
            )
        timeout = body.get("timeout_ms", base.timeout_s * 1000)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise self.fail(
                f"{where}: timeout_ms {timeout!r} is not a positive number",
                "write e.g. timeout_ms = 2000",
                self.line_of("timeout_ms", at),
            )
        max_body = body.get("max_body", base.max_body)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
            raise self.fail(
                f"{where}: max_body {max_body!r} is not a positive integer (bytes)",
                "write e.g. max_body = 1048576",
                self.line_of("max_body", at),
            )
        dry_run = body.get("dry_run", base.dry_run)
        if not isinstance(dry_run, bool):
            raise self.fail(
                f"{where}: dry_run {dry_run!r} is not true or false",
                "write dry_run = true",
                self.line_of("dry_run", at),
            )
        candidate = body.get("candidate", base.candidate)
        if candidate is not None and (not isinstance(candidate, str) or not _URL.match(candidate)):
            raise self.fail(
                f"{where}: candidate {candidate!r} is not a base URL",
                'write e.g. candidate = "http://127.0.0.1:8001"',
                self.line_of("candidate", at),
            )
        headers = tuple(str(h).lower() for h in body.get("headers", base.headers))
        return CapabilityRules(
            name=name,
            sample_percent=float(percent),
            timeout_s=float(timeout) / 1000,
            dry_run=dry_run,
            headers=headers,
            ignore=base.ignore + tuple(self.path(p, where, at) for p in body.get("ignore", [])),
            unordered=base.unordered + tuple(self.unordered(e, where, at) for e in body.get("unordered", [])),
            numeric=base.numeric
            + tuple(self.tolerance(e, where, at, "tolerance") for e in body.get("numeric", [])),
            timestamps=base.timestamps
            + tuple(self.tolerance(e, where, at, "seconds") for e in body.get("timestamps", [])),
            normalisers=base.normalisers
            + tuple(self.normaliser(e, where, at) for e in body.get("normalise", [])),
            side_effects_ignore=base.side_effects_ignore
            + tuple(self.path(p, where, at) for p in body.get("side_effects_ignore", [])),
            accepted=base.accepted + tuple(self.accepted(e, where, at) for e in body.get("accept", [])),
            max_body=max_body,
            candidate=candidate,
        )

    def path(self, raw: Any, where: str, at: int) -> PathPattern:
        line = self.line_of(str(raw), at) or at or None
        if not isinstance(raw, str):
            raise self.fail(
                f"{where}: path {raw!r} is not a string", 'write a JSON Pointer like "/results/*/id"', line
            )
        try:
            return PathPattern.compile(raw)
        except ValueError as exc:
            raise self.fail(f"{where}: {exc}", 'write a JSON Pointer like "/results/*/id"', line) from exc

    def table(
        self, raw: Any, where: str, at: int, what: str, needs: set[str], allowed: set[str], example: str
    ) -> dict[str, Any]:
        line = self.line_of(str(raw.get("path")), at) if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or not needs <= set(raw) or set(raw) - allowed:
            raise self.fail(
                f"{where}: {what} entry {raw!r} needs {sorted(needs)}"
                + (f" and may have {sorted(allowed - needs)}" if allowed - needs else ""),
                f"write {example}",
                line or at or None,
            )
        return raw

    def unordered(self, raw: Any, where: str, at: int) -> UnorderedArray:
        entry = self.table(
            raw, where, at, "unordered", {"path"}, {"path", "key"}, '{ path = "/results", key = "id" }'
        )
        key = entry.get("key")
        return UnorderedArray(self.path(entry["path"], where, at), None if key is None else str(key))

    def tolerance(self, raw: Any, where: str, at: int, unit: str) -> Tolerance:
        entry = self.table(
            raw,
            where,
            at,
            "numeric" if unit == "tolerance" else "timestamps",
            {"path", unit},
            {"path", unit},
            f'{{ path = "/amount", {unit} = 0.01 }}',
        )
        amount = entry[unit]
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise self.fail(
                f"{where}: {unit} {amount!r} is not a non-negative number",
                f"write {unit} = 0.01",
                self.line_of(str(entry["path"]), at) or at or None,
            )
        return Tolerance(self.path(entry["path"], where, at), float(amount))

    def normaliser(self, raw: Any, where: str, at: int) -> Normaliser:
        entry = self.table(
            raw,
            where,
            at,
            "normalise",
            {"path", "pattern", "replace"},
            {"path", "pattern", "replace"},
            '{ path = "/reference", pattern = "^REF-[0-9]+$", replace = "REF-#" }',
        )
        try:
            pattern = re.compile(str(entry["pattern"]))
        except re.error as exc:
            raise self.fail(
                f"{where}: pattern {entry['pattern']!r} is not a valid regular expression ({exc})",
                "fix the regex (TOML strings need \\\\ for a backslash)",
                self.line_of(str(entry["path"]), at) or at or None,
            ) from exc
        return Normaliser(self.path(entry["path"], where, at), pattern, str(entry["replace"]))

    def accepted(self, raw: Any, where: str, at: int) -> AcceptedDifference:
        entry = self.table(
            raw,
            where,
            at,
            "accept",
            {"path", "reason", "expires"},
            {"path", "reason", "expires", "kind"},
            '{ path = "/x", kind = "changed", reason = "why", expires = 2026-12-31 }',
        )
        line = self.line_of(str(entry["path"]), at) or at or None
        kind = entry.get("kind")
        if kind is not None and kind not in KINDS:
            raise self.fail(
                f"{where}: accepted kind {kind!r} is unknown", f"use one of {sorted(KINDS)}", line
            )
        expires = entry["expires"]
        if not isinstance(expires, date):
            raise self.fail(
                f"{where}: expires {expires!r} is not a date",
                "write an unquoted TOML date, e.g. expires = 2026-12-31",
                line,
            )
        if not str(entry["reason"]).strip():
            raise self.fail(
                f"{where}: an accepted difference has an empty reason",
                "say why the difference is accepted (ticket, decision)",
                line,
            )
        return AcceptedDifference(self.path(entry["path"], where, at), kind, str(entry["reason"]), expires)
