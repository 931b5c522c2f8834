"""The routing table: this adapter's own identity and the parties it exchanges messages with."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from adapter.configfile import load_model
from adapter.process.events import Party


class RoutingError(Exception):
    """The routing configuration cannot be used; raised at start-up."""


class DeliveryOverrides(BaseModel):
    """A party's own redelivery policy; what is left out follows the settings (LUS_DELIVERY_*)."""

    model_config = ConfigDict(extra="forbid")

    timeout: float | None = Field(None, gt=0, description="Seconds per HTTP attempt")
    attempts_per_claim: int | None = Field(None, ge=1)
    in_claim_wait: float | None = Field(None, ge=0)
    backoff_initial: float | None = Field(None, gt=0, description="Seconds")
    backoff_max: float | None = Field(None, gt=0, description="Seconds")
    retry_after_max: float | None = Field(None, ge=0, description="Seconds")
    max_attempts: int | None = Field(None, ge=1, description="Then the message is a dead letter")
    max_age: float | None = Field(None, gt=0, description="Seconds of trying, then a dead letter")
    breaker_failures: int | None = Field(None, ge=1, description="Consecutive failures opening the circuit")
    breaker_reset: float | None = Field(None, gt=0, description="Seconds open before a trial call")


class DialectPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inbound: str = Field("canonical", description="What the party sends")
    outbound: str = Field("canonical", description="What the party is sent")


class PartyConfig(BaseModel):
    hsa_id: str
    name: str
    kind: Party
    endpoint: str
    dialect: str | DialectPair = Field(
        "canonical",
        description="mappings/<dialect>/ its system speaks; or {inbound, outbound} when they differ",
    )
    municipality: str | None = Field(None, description="SCB kommunkod, for kind K")
    site: str | None = Field(
        None,
        description="The site the unit belongs to, for the dashboard's planning meetings per site"
        " (Halmstad, Varberg); default: its name",
    )
    delivery: DeliveryOverrides | None = None
    sees_protected_details: bool = Field(
        False,
        description="Receives the name and address of a patient with a protected identity"
        " (sekretessmarkering); other parties get the message without them.",
    )

    @property
    def inbound_dialect(self) -> str:
        """The dialect of the messages this party sends."""
        return self.dialect if isinstance(self.dialect, str) else self.dialect.inbound

    @property
    def outbound_dialect(self) -> str:
        """The dialect of the messages this party is sent."""
        return self.dialect if isinstance(self.dialect, str) else self.dialect.outbound


class SelfConfig(BaseModel):
    hsa_id: str = Field(description="The party this adapter stands beside")
    base_url: str = Field(
        "",
        description="Where other parties reach this adapter's FHIR API (behind a proxy, the proxy's"
        " address). Unset: http(s)://host:port/fhir of the address `serve` is bound to.",
    )


class RoutingTable(BaseModel):
    self_: SelfConfig = Field(alias="self")
    parties: list[PartyConfig]

    def party(self, hsa_id: str) -> PartyConfig | None:
        return next((p for p in self.parties if p.hsa_id == hsa_id), None)

    def municipality(self, kommunkod: str) -> PartyConfig | None:
        return next((p for p in self.parties if p.kind is Party.KOMMUN and p.municipality == kommunkod), None)

    def sees_protected_details(self, hsa_id: str) -> bool:
        """Whether a party may see a protected patient's name and address when it reads: this
        adapter's own party, and those configured to need them."""
        config = self.party(hsa_id)
        return hsa_id == self.self_.hsa_id or (config is not None and config.sees_protected_details)

    def name_of(self, hsa_id: str) -> str:
        """A party's name for people; the HSA-id of one not in the table."""
        party = self.party(hsa_id)
        return party.name if party else hsa_id

    def site_of(self, hsa_id: str) -> str:
        """The site of a unit (Halmstad, Varberg): its `site`, else its name, else its HSA-id."""
        party = self.party(hsa_id)
        return (party.site or party.name) if party else hsa_id


def load_routing_table(config_dir: Path) -> RoutingTable:
    path = config_dir / "parties.yaml"
    return load_model(path, RoutingTable, RoutingError, missing="No routing table")


def check_dialects(table: RoutingTable, known: set[str]) -> None:
    """Every dialect the table names has its mappings/<dialect>/ folder; checked at start-up."""
    for party in table.parties:
        for name in (party.inbound_dialect, party.outbound_dialect):
            if name not in known:
                raise RoutingError(
                    f"Party {party.hsa_id} names dialect {name!r}; known: {', '.join(sorted(known))}"
                )
