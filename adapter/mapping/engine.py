"""The mapper: rules compiled at start-up, run per message in both directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.mapping.inbound import MappingFailed, map_inbound, variables
from adapter.mapping.outbound import Addressing, Renderer, SharedEntries
from adapter.mapping.rules import MessageRule, load_rules
from adapter.process.case import DischargeCase
from adapter.process.events import Event
from adapter.validation.package import FhirPackage
from adapter.validation.terminology import Terminology


def extension_urls(package: FhirPackage) -> dict[str, str]:
    """id → canonical URL of every Extension StructureDefinition in the package."""
    return {
        sd["id"]: sd["url"]
        for sd in package.resources("StructureDefinition")
        if sd.get("type") == "Extension" and "id" in sd and "url" in sd
    }


class Mapper:
    def __init__(self, rules: dict[tuple[str, str], MessageRule], package: FhirPackage) -> None:
        self.rules = rules
        self.terms = Terminology.from_package(package)
        self.extensions = extension_urls(package)
        self.env = variables(self.terms, self.extensions)
        # Outbound messages are always in the canonical form; a dialect converts from it.
        canonical = {rule.event: rule for (dialect, _), rule in rules.items() if dialect == "canonical"}
        self.renderer = Renderer(canonical, self.terms, self.extensions)

    @classmethod
    def from_dir(cls, mappings_dir: Path, package: FhirPackage) -> Mapper:
        return cls(load_rules(mappings_dir), package)

    def to_event(self, dialect: str, index: BundleIndex) -> tuple[Event, list[Issue]]:
        """The process event a message Bundle carries, with warnings. Raises MappingFailed."""
        header = index.header
        code = ((header.resource.get("eventCoding") or {}).get("code")) if header else None
        rule = self.rules.get((dialect, str(code)))
        if rule is None:
            raise MappingFailed(
                [
                    Issue(
                        "error",
                        "not-supported",
                        f"No mapping rule for message {code!r} in dialect {dialect!r}.",
                        f"{header.path}.eventCoding" if header else "Bundle",
                        "mapping-rule-missing",
                    )
                ]
            )
        return map_inbound(rule, index, self.terms, self.env)

    def to_bundle(
        self,
        event: Event,
        to: Addressing,
        case: DischargeCase | None = None,
        shared: SharedEntries | None = None,
    ) -> dict[str, Any]:
        """The outbound message of an event; `case` after the event (the case Encounter and Patient
        travel in every message). Raises NotImplementedError for an event no rule renders.
        `shared`: the same for every recipient of the event (outbound.SharedEntries)."""
        return self.renderer.render(event, to, case, shared)
