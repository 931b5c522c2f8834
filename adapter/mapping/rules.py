"""Reading and compiling mapping rule files (`mappings/<dialect>/<message>.yaml`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapter.mapping.fastpath import compile_expression
from adapter.process.events import EVENT_TYPES

FieldType = Literal["string", "date", "dateTime", "boolean", "system", "strings"]
Compiled = Callable[..., list[Any]]


class MappingError(Exception):
    """A rule file that cannot be used; raised at start-up with the file and rule named."""


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from")
    path: str
    type: FieldType = "string"
    required: bool = False
    default: Any = None
    map: dict[str, Any] | None = None


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str
    event: str
    constants: dict[str, str] = {}
    resources: dict[str, str] = {}
    fields: dict[str, FieldRule]


@dataclass
class CompiledField:
    name: str
    rule: FieldRule
    evaluate: Compiled


@dataclass
class InboundRule:
    """One message type of one dialect, compiled."""

    dialect: str
    message: str
    event: str
    source_file: Path
    constants: dict[str, str]
    resources: list[tuple[str, str, str]]  # (name, from-name, reference element)
    fields: list[CompiledField] = field(default_factory=list)


def compile_fhirpath(expression: str, where: str) -> Compiled:
    try:
        return compile_expression(expression)
    except Exception as exc:  # the parser raises bare exceptions of several kinds
        raise MappingError(f"{where}: cannot compile FHIRPath {expression!r}: {exc}") from exc


def load_rule_file(path: Path, dialect: str) -> InboundRule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = RuleFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise MappingError(f"{path}: {exc}") from exc
    if spec.event not in EVENT_TYPES:
        raise MappingError(f"{path}: unknown event {spec.event!r}; known: {', '.join(EVENT_TYPES)}")
    resources = []
    known = {"bundle", "header"}
    for name, ref in spec.resources.items():
        origin, _, element = ref.partition(".")
        if origin not in known or not element:
            raise MappingError(
                f"{path}: resource {name!r} = {ref!r} must be <earlier name>.<reference element>"
            )
        resources.append((name, origin, element))
        known.add(name)
    rule = InboundRule(dialect, spec.message, spec.event, path, spec.constants, resources)
    for name, field_rule in spec.fields.items():
        if field_rule.source not in known:
            raise MappingError(f"{path}: field {name!r} reads from unknown resource {field_rule.source!r}")
        where = f"{path}: field {name!r}"
        rule.fields.append(CompiledField(name, field_rule, compile_fhirpath(field_rule.path, where)))
    return rule


def load_rules(mappings_dir: Path) -> dict[tuple[str, str], InboundRule]:
    """Every rule file, keyed by (dialect, message code)."""
    rules: dict[tuple[str, str], InboundRule] = {}
    if not mappings_dir.is_dir():
        raise MappingError(f"No mapping rules: {mappings_dir} is not a folder")
    for path in sorted(mappings_dir.glob("*/*.yaml")):
        rule = load_rule_file(path, dialect=path.parent.name)
        key = (rule.dialect, rule.message)
        if key in rules:
            raise MappingError(
                f"{path}: message {rule.message!r} is mapped twice in dialect {rule.dialect!r}"
            )
        rules[key] = rule
    return rules
