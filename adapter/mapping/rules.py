"""Reading and compiling mapping rule files (`mappings/<dialect>/<message>.yaml`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from adapter.configfile import load_model
from adapter.fhir.fhirpath import compile_expression
from adapter.process.events import EVENT_TYPES

FieldType = Literal["string", "date", "dateTime", "boolean", "system", "strings"]
Compiled = Callable[..., list[Any]]
M = TypeVar("M", bound=BaseModel)


class MappingError(Exception):
    """A rule file that cannot be used; raised at start-up with the file and rule named."""


class FieldRule(BaseModel):
    """One event field read from a message. With `each`, a tuple of items: `path` gives the
    elements (one item each) and `fields` what each item's fields are, read from its element."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field("", alias="from")
    path: str
    type: FieldType = "string"
    required: bool = False
    default: Any = None
    map: dict[str, Any] | str | None = None  # a table, or the name of a `codes:` table (reversed)
    each: dict[str, FieldRule] | None = None
    ignore: list[str] = []  # with `each`: elements of an item read by no field, no warning


FieldRule.model_rebuild()


class RenderSpec(BaseModel):
    """Event → FHIR: the focus entry, the message's own entries and extra MessageHeader elements.
    Entries not listed here but named by `$ref` come from `_common.yaml`'s templates."""

    model_config = ConfigDict(extra="forbid")

    focus: str
    entries: dict[str, Any] = {}
    header: dict[str, Any] = {}


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str
    event: str
    constants: dict[str, str] = {}
    codes: dict[str, dict[str, str]] = {}
    resources: dict[str, str] = {}
    fields: dict[str, FieldRule]
    ignore: list[str] = []  # focus elements read by no field that are not worth a warning
    render: RenderSpec | None = None


class CommonFile(BaseModel):
    """`_common.yaml` of a dialect: what every message file of it shares."""

    model_config = ConfigDict(extra="forbid")

    constants: dict[str, str] = {}
    codes: dict[str, dict[str, str]] = {}
    resources: dict[str, str] = {}
    fields: dict[str, FieldRule] = {}
    ignore: dict[str, list[str]] = {}  # resource type → elements read by no field, no warning
    templates: dict[str, Any] = {}


@dataclass
class CompiledField:
    name: str
    rule: FieldRule
    evaluate: Compiled
    map: dict[str, Any] | None = None  # FHIR value → event value
    each: list[CompiledField] = field(default_factory=list)


@dataclass
class MessageRule:
    """One message type of one dialect, compiled: both directions."""

    dialect: str
    message: str
    event: str
    source_file: Path
    constants: dict[str, str]
    resources: list[tuple[str, str, str]]  # (name, from-name, path to the reference element)
    fields: list[CompiledField] = field(default_factory=list)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()  # focus elements no warning is given for
    header_ignore: frozenset[str] = frozenset()  # MessageHeader elements no warning is given for
    render: RenderSpec | None = None
    templates: dict[str, Any] = field(default_factory=dict)


def compile_fhirpath(expression: str, where: str, *, fast: bool = True) -> Compiled:
    try:
        return compile_expression(expression, fast=fast)
    except Exception as exc:  # the parser raises bare exceptions of several kinds
        raise MappingError(f"{where}: cannot compile FHIRPath {expression!r}: {exc}") from exc


def _read(path: Path, model: type[M]) -> M:
    return load_model(path, model, MappingError)


def load_rule_file(path: Path, dialect: str, common: CommonFile | None = None) -> MessageRule:
    common = common or CommonFile()
    spec = _read(path, RuleFile)
    if spec.event not in EVENT_TYPES:
        raise MappingError(f"{path}: unknown event {spec.event!r}; known: {', '.join(EVENT_TYPES)}")
    resources = []
    known = {"bundle", "header"}
    for name, ref in {**common.resources, **spec.resources}.items():
        origin, _, element = ref.partition(".")
        if origin not in known or not element:
            raise MappingError(
                f"{path}: resource {name!r} = {ref!r} must be <earlier name>.<reference element>"
            )
        resources.append((name, origin, element))
        known.add(name)
    codes = {**common.codes, **spec.codes}
    rule = MessageRule(
        dialect,
        spec.message,
        spec.event,
        path,
        {**common.constants, **spec.constants},
        resources,
        codes=codes,
        render=spec.render,
        templates=common.templates,
    )
    for name, field_rule in {**common.fields, **spec.fields}.items():
        if field_rule.source not in known:
            raise MappingError(f"{path}: field {name!r} reads from unknown resource {field_rule.source!r}")
        rule.fields.append(_compile_field(name, field_rule, codes, f"{path}: field {name!r}"))
    focus_type = None
    if spec.render is not None:
        focus = spec.render.entries.get(spec.render.focus) or common.templates.get(spec.render.focus) or {}
        shared = common.templates.get(str(focus.get("$use")), {})
        focus_type = focus.get("resourceType") or shared.get("resourceType")
    rule.ignore = frozenset(spec.ignore) | frozenset(common.ignore.get(str(focus_type), ()))
    rule.header_ignore = frozenset(common.ignore.get("MessageHeader", ()))
    return rule


def _compile_field(name: str, rule: FieldRule, codes: dict[str, dict[str, str]], where: str) -> CompiledField:
    table: dict[str, Any] | None
    if isinstance(rule.map, str):
        if rule.map not in codes:
            raise MappingError(f"{where}: unknown codes table {rule.map!r}")
        table = {fhir: event for event, fhir in codes[rule.map].items()}
    else:
        table = rule.map
    compiled = CompiledField(name, rule, compile_fhirpath(rule.path, where), table)
    for sub_name, sub in (rule.each or {}).items():
        compiled.each.append(_compile_field(sub_name, sub, codes, f"{where}.{sub_name}"))
    return compiled


def load_rules(mappings_dir: Path) -> dict[tuple[str, str], MessageRule]:
    """Every rule file, keyed by (dialect, message code). Files starting with `_` are shared parts."""
    rules: dict[tuple[str, str], MessageRule] = {}
    if not mappings_dir.is_dir():
        raise MappingError(f"No mapping rules: {mappings_dir} is not a folder")
    for path in sorted(mappings_dir.glob("*/*.yaml")):
        if path.name.startswith("_"):
            continue
        common_path = path.parent / "_common.yaml"
        common = _read(common_path, CommonFile) if common_path.exists() else None
        rule = load_rule_file(path, dialect=path.parent.name, common=common)
        key = (rule.dialect, rule.message)
        if key in rules:
            raise MappingError(
                f"{path}: message {rule.message!r} is mapped twice in dialect {rule.dialect!r}"
            )
        rules[key] = rule
    return rules
