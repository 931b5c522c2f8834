"""The configuration reference (docs/configuration.md), generated from the Settings model so that
it can never disagree with the code: `python -m adapter.cli.configdoc > docs/configuration.md`
(`make docs`). A test fails when the committed file is out of date."""

from __future__ import annotations

import enum
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from adapter.config import PROJECT_ROOT, SECTIONS, Settings

HEADER = """# Configuration reference

<!-- Generated from adapter/config.py by `python -m adapter.cli.configdoc > docs/configuration.md`
     (`make docs`). Do not edit by hand: change the Settings model and regenerate. -->

The adapter reads its settings from environment variables with the prefix `{prefix}`, or from a
`.env` file in the working directory (environment variables win). Names are case-insensitive.
Paths given as relative are relative to the working directory; the defaults below that are paths
are inside the installation.

Beside these settings, three folders hold the data an integration team edits: the routing table
(`parties.yaml`), the step table (`lus-steps.yaml`, who may send each LUS step and who receives it)
and the regional LUS rules (`lus-rules.yaml`, deadlines, betalningsansvar and whether the
utskrivningsmeddelande waits for the joint sign-off) in `LUS_CONFIG_DIR`, the FHIR profiles in
`LUS_PROFILES_DIR` and the mapping rules in `LUS_MAPPINGS_DIR`.
`LUS_CONFIG_DIR` has no default: the repository's example configuration is `examples/config`.
"""

TABLE = """
| variable | type | default | meaning |
|---|---|---|---|
"""


def reference(settings: type[BaseSettings] = Settings) -> str:
    """The reference: one table per section of SECTIONS for the adapter's Settings, one table for
    another model."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    fields = settings.model_fields
    sections = SECTIONS if settings is Settings else {"": tuple(fields)}
    unsorted = set(fields) - {name for names in sections.values() for name in names}
    if unsorted:
        raise ValueError(f"settings in no section of adapter.config.SECTIONS: {sorted(unsorted)}")
    parts = [HEADER.format(prefix=prefix)]
    for title, names in sections.items():
        rows = [
            f"| `{(prefix + name).upper()}` | {_type(fields[name].annotation)} | {_default(fields[name])}"
            f" | {_cell(fields[name].description)} |"
            for name in names
        ]
        parts.append((f"\n## {title}\n" if title else "") + TABLE + "\n".join(rows) + "\n")
    return "".join(parts)


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        parts = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(parts) < len(get_args(annotation))
        text = " or ".join(_type(a) for a in parts)
        return f"{text} (optional)" if optional else text
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    names = {str: "text", int: "integer", float: "number", bool: "true/false", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        value = value.relative_to(PROJECT_ROOT) if value.is_relative_to(PROJECT_ROOT) else value
        return f"`{value.as_posix()}`"
    if isinstance(value, enum.Enum):
        value = value.value
    if value == "":
        return "(empty)"
    if isinstance(value, str):
        value = value.replace(PROJECT_ROOT.as_posix(), "<installation>")
    return f"`{value}`"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(reference())
