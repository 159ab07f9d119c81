"""Versioned event contracts: load, validate every event, and check changes stay compatible.

A contract is ``acl/contracts/<event type>.json`` (JSON Schema 2020-12); the
event type ends in its version (``paystream.wallet.credited.v1``). A change to
an existing version must not break consumers built against it; a breaking
change is a new file (``….v2.json``) next to the old one.

Open to additions, closed at the source
---------------------------------------
A contract is an *open* content model: it never says ``additionalProperties:
false``, and a consumer must ignore fields it does not know (``validate``).
Why: with closed contracts every added field breaks each consumer still holding
the previous copy (``wallet_updated_at`` added to ``wallet.credited.v1`` made
such a consumer dead-letter every credit), so every addition would need a new
version and dual publishing. Open contracts make additions safe in any deploy
order; only what really breaks a tolerant reader (a removed, renamed or retyped
field, a new enum value) needs a version.

The producer stays strict: the relay checks every event with
``validate_emitted``, the same contract with every object closed, so a legacy
column can still not leak into a payload without being declared first.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from acl.domain import DomainEvent
from acl.errors import ContractError, ContractViolation

CONTRACTS_DIR = Path(__file__).parent / "contracts"
# RFC 3339 date-time, for the compiled validators (the contracts only use draft-7 keywords)
_DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_TYPE_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+\.v[0-9]+$")
Schema = dict[str, Any]


def parse_contracts(files: Mapping[str, str], enforce_open: bool = True) -> dict[str, Schema]:
    """File name -> text, to event type -> schema. Errors name the file and the fix.

    ``enforce_open=False`` reads a baseline from git, which may predate the open-model rule.
    """
    contracts: dict[str, Schema] = {}
    for name, text in sorted(files.items()):
        if not name.endswith(".json"):
            continue
        event_type = name.removesuffix(".json")
        if not _TYPE_NAME.match(event_type):
            raise ContractError(f"{name}: a contract file is named <domain>.<entity>.<verb>.v<N>.json")
        try:
            schema = json.loads(text)
            Draft202012Validator.check_schema(schema)
        except (json.JSONDecodeError, SchemaError) as exc:
            raise ContractError(f"{name}: not a valid JSON Schema: {exc}") from exc
        if schema.get("title") != event_type:
            raise ContractError(f"{name}: its title must be {event_type!r}, found {schema.get('title')!r}")
        closed_at = _closed_objects(schema) if enforce_open else []
        if closed_at:
            raise ContractError(
                f"{name}: additionalProperties: false at {', '.join(closed_at)}. Contracts are open to "
                "additions (consumers ignore fields they do not know); remove it. The relay still refuses "
                "undeclared fields (ContractRegistry.validate_emitted)."
            )
        contracts[event_type] = schema
    return contracts


def _subschemas(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    """Every schema nested in ``schema`` (properties, items, combinators), with its path."""
    for field, sub in schema.get("properties", {}).items():
        yield f"{path}/{field}", sub
    if isinstance(schema.get("items"), dict):
        yield f"{path}[]", schema["items"]
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(keyword, [])):
            yield f"{path}/{keyword}[{i}]", sub


def _closed_objects(schema: Schema, path: str = "") -> list[str]:
    here = [path or "(root)"] if schema.get("additionalProperties") is False else []
    return here + [p for sub_path, sub in _subschemas(schema, path) for p in _closed_objects(sub, sub_path)]


def closed(schema: Schema) -> Schema:
    """A copy in which every object that declares properties allows no others: the producer's reading."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {field: closed(sub) for field, sub in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("items"), dict):
        out["items"] = closed(out["items"])
    return out  # combinators are left as they are: closing each branch of an allOf would reject all


def load_contracts(folder: Path = CONTRACTS_DIR) -> dict[str, Schema]:
    return parse_contracts({p.name: p.read_text() for p in folder.glob("*.json")})


def contracts_at_git_ref(repo: Path, ref: str, folder: str = "acl/contracts") -> dict[str, Schema]:
    """The contracts as they were at ``ref`` (the baseline consumers were built against)."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "--name-only", f"{ref}:{folder}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        return {}  # the folder did not exist at ref: nothing to stay compatible with
    files = {}
    for name in listing.stdout.split():
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{ref}:{folder}/{name}"],
            capture_output=True,
            text=True,
            check=True,
        )
        files[name] = shown.stdout
    return parse_contracts(files, enforce_open=False)


class ContractRegistry:
    """Validates events against their contracts; compiled validators are built once per reading.

    ``validate`` reads a contract as published (open: unknown fields are ignored), which is
    what a consumer must do. ``validate_emitted`` reads it closed, which is what the relay
    and the backfill do before publishing. Every event on the relay's hot path goes through
    a fastjsonschema-compiled validator (~7 µs against ~200 µs for jsonschema's interpreter,
    measured in bench/acl_bench.py); jsonschema then explains a rejection precisely.
    """

    def __init__(self, contracts: Mapping[str, Schema]) -> None:
        self._contracts = dict(contracts)
        self._closed = {t: closed(s) for t, s in self._contracts.items()}
        self._compiled: dict[tuple[str, bool], Any] = {}
        self._explainers: dict[tuple[str, bool], Draft202012Validator] = {}

    def _schema(self, event_type: str, emitted: bool) -> Schema:
        return (self._closed if emitted else self._contracts)[event_type]

    def _fast(self, event_type: str, emitted: bool) -> Any:
        compiled = self._compiled.get((event_type, emitted))
        if compiled is None:
            schema = {k: v for k, v in self._schema(event_type, emitted).items() if k != "$schema"}
            compiled = fastjsonschema.compile(schema, formats={"date-time": _DATE_TIME})
            self._compiled[(event_type, emitted)] = compiled
        return compiled

    def _explainer(self, event_type: str, emitted: bool) -> Draft202012Validator:
        explainer = self._explainers.get((event_type, emitted))
        if explainer is None:
            schema = self._schema(event_type, emitted)
            explainer = Draft202012Validator(schema, format_checker=FormatChecker())
            self._explainers[(event_type, emitted)] = explainer
        return explainer

    def types(self) -> frozenset[str]:
        return frozenset(self._contracts)

    def validate(self, event: DomainEvent) -> None:
        """A consumer's check: the contract as published; fields it does not declare are ignored."""
        self._check(event, emitted=False)

    def validate_emitted(self, event: DomainEvent) -> None:
        """The producer's check: also refuses any field the contract does not declare (legacy leaks)."""
        self._check(event, emitted=True)

    def _check(self, event: DomainEvent, emitted: bool) -> None:
        if event.type not in self._contracts:
            raise ContractViolation(event.type, "no contract declared for this event type")
        try:
            self._fast(event.type, emitted)(event.data)
        except fastjsonschema.JsonSchemaValueException as fast_error:
            explainer = self._explainer(event.type, emitted)
            error = next(iter(sorted(explainer.iter_errors(event.data), key=str)), None)
            if error is None:  # the two disagree: the stricter answer wins
                raise ContractViolation(event.type, fast_error.message) from None
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise ContractViolation(event.type, f"{where}: {error.message}") from None


# ---- compatibility -----------------------------------------------------------------------


def _types(schema: Schema) -> frozenset[str]:
    declared = schema.get("type")
    if declared is None:
        return frozenset()
    return frozenset([declared] if isinstance(declared, str) else declared)


def breaking_changes(old: Schema, new: Schema, path: str = "") -> list[str]:
    """What a consumer built against ``old`` would trip over if producers emitted ``new``."""
    problems: list[str] = []
    here = path or "(root)"
    old_types, new_types = _types(old), _types(new)
    if old_types and (not new_types or not new_types <= old_types):
        problems.append(f"{here}: type changed from {sorted(old_types)} to {sorted(new_types) or 'any'}")
    if "enum" in new and ("enum" not in old or not set(new["enum"]) <= set(old["enum"])):
        added = sorted(set(new["enum"]) - set(old.get("enum", [])), key=str)
        if "enum" in old:
            problems.append(f"{here}: new enum values {added} that consumers do not know")
    if "enum" in old and "enum" not in new:
        problems.append(f"{here}: enum restriction removed")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    if old.get("additionalProperties") is False:
        # a consumer holding ``old`` validates this object as closed: any new field fails it
        for field in sorted(new_props.keys() - old_props.keys()):
            problems.append(f"{path}/{field}: field added to an object the old contract closes "
                            "(additionalProperties: false); consumers validating against it reject it")
    new_required = set(new.get("required", []))
    for field in old.get("required", []):
        if field not in new_props:
            problems.append(f"{path}/{field}: required field removed or renamed")
        elif field not in new_required:
            problems.append(f"{path}/{field}: required field became optional")
    for field, old_sub in old_props.items():
        if field in new_props:
            problems.extend(breaking_changes(old_sub, new_props[field], f"{path}/{field}"))
    if "items" in old and "items" in new:
        problems.extend(breaking_changes(old["items"], new["items"], f"{path}[]"))
    return problems


def check_contracts(baseline: Mapping[str, Schema], current: Mapping[str, Schema]) -> list[str]:
    """Every breaking change between two sets of contracts; empty means compatible.

    A new version is compatible, and so is a new field, unless the baseline closed that
    object (``additionalProperties: false``): a consumer validating against the baseline
    rejects it. Opening a closed object is compatible (the producer still emits only
    declared fields), so the move to open contracts needs no new version; a consumer
    still holding a closed copy must take the open one before the next field is added.
    Removing a published version is not compatible (its consumers still exist).
    """
    problems: list[str] = []
    for event_type, old in sorted(baseline.items()):
        new = current.get(event_type)
        if new is None:
            problems.append(f"{event_type}: contract removed; keep it until its consumers have moved")
            continue
        problems.extend(f"{event_type} {p}" for p in breaking_changes(old, new))
    return problems
