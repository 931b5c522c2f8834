"""The routing table: this adapter's own identity and the parties it exchanges messages with."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from adapter.process.events import Party


class RoutingError(Exception):
    """The routing configuration cannot be used; raised at start-up."""


class PartyConfig(BaseModel):
    hsa_id: str
    name: str
    kind: Party
    endpoint: str
    dialect: str = "canonical"
    municipality: str | None = Field(None, description="SCB kommunkod, for kind K")


class SelfConfig(BaseModel):
    hsa_id: str = Field(description="The party this adapter stands beside")
    base_url: str = Field(description="Where other parties reach this adapter's FHIR API")


class RoutingTable(BaseModel):
    self_: SelfConfig = Field(alias="self")
    parties: list[PartyConfig]

    def party(self, hsa_id: str) -> PartyConfig | None:
        return next((p for p in self.parties if p.hsa_id == hsa_id), None)

    def municipality(self, kommunkod: str) -> PartyConfig | None:
        return next((p for p in self.parties if p.kind is Party.KOMMUN and p.municipality == kommunkod), None)


def load_routing_table(config_dir: Path) -> RoutingTable:
    path = config_dir / "parties.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RoutingTable.model_validate(data)
    except FileNotFoundError:
        raise RoutingError(f"No routing table: {path} does not exist") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise RoutingError(f"{path}: {exc}") from exc
