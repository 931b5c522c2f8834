"""docs/configuration.md is generated from the Settings model and kept up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapter.cli.configdoc import reference
from adapter.config import PROJECT_ROOT, Settings


def test_the_committed_reference_is_up_to_date() -> None:
    committed = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == reference(), "docs/configuration.md is stale: run `make docs` and commit it"


def test_every_setting_is_in_the_reference_with_its_description() -> None:
    text = reference()
    for name, field in Settings.model_fields.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `LUS_{name.upper()}` |"))
        assert field.description and field.description.split("|")[0].strip() in row.replace("\\|", "|")


class _Sample(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="X_")
    mode: Literal["none", "mtls"] = Field("none", description="Who may call.")
    ca_file: Path | None = Field(None, description="CA | chain.")
    names: str = Field("", description="Comma-separated.")
    folder: Path = Field(PROJECT_ROOT / "examples", description="Inside the installation.")


def test_types_and_defaults_are_written_for_people() -> None:
    rows = reference(_Sample).splitlines()[-4:]
    assert rows == [
        "| `X_MODE` | one of `none`, `mtls` | `none` | Who may call. |",
        "| `X_CA_FILE` | path (optional) | (none) | CA \\| chain. |",
        "| `X_NAMES` | text | (empty) | Comma-separated. |",
        "| `X_FOLDER` | path | `examples` | Inside the installation. |",
    ]
