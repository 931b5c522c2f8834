"""Identifier systems and codes, read from the package's NamingSystem and CodeSystem resources.

This is the one place code learns a system URL: `profiles/` holds the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.validation.package import FhirPackage, PackageError

RULE_EXTENSION = "StructureDefinition/identifier-rule"


@dataclass(frozen=True)
class NamingSystem:
    id: str
    preferred: str  # the system URI the adapter writes
    aliases: frozenset[str]  # other URIs seen in use, accepted and normalised
    rule: str | None  # name of the format rule in identifiers.py, if any


@dataclass
class Terminology:
    naming_systems: dict[str, NamingSystem] = field(default_factory=dict)  # by id
    code_systems: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id
    _by_uri: dict[str, NamingSystem] = field(default_factory=dict)

    @classmethod
    def from_package(cls, package: FhirPackage) -> Terminology:
        terms = cls()
        for resource in package.resources("NamingSystem"):
            system = _naming_system(resource)
            terms.naming_systems[system.id] = system
            for uri in (system.preferred, *system.aliases):
                terms._by_uri[uri] = system
        for resource in package.resources("CodeSystem"):
            terms.code_systems[resource["id"]] = resource
        return terms

    def system(self, naming_system_id: str) -> str:
        """The preferred URI of a NamingSystem, e.g. system('personnummer')."""
        try:
            return self.naming_systems[naming_system_id].preferred
        except KeyError:
            raise PackageError(f"profiles define no NamingSystem with id {naming_system_id!r}") from None

    def systems(self, naming_system_id: str) -> frozenset[str]:
        """Preferred URI and all aliases."""
        ns = self.naming_systems[naming_system_id]
        return ns.aliases | {ns.preferred}

    def fhirpath_variables(self) -> dict[str, list[str]]:
        """%variables for FHIRPath invariants: each NamingSystem's URIs by id (%personnummer,
        %hsa_id) and the URIs of all systems under one identifier rule (%rule_reservnummer)."""
        env: dict[str, list[str]] = {}
        for ns_id, ns in self.naming_systems.items():
            uris = sorted(self.systems(ns_id))
            env[ns_id.replace("-", "_")] = uris
            if ns.rule:
                env.setdefault(f"rule_{ns.rule.replace('-', '_')}", []).extend(uris)
        return env

    def lookup(self, uri: str) -> NamingSystem | None:
        return self._by_uri.get(uri)

    def code_system_url(self, code_system_id: str) -> str:
        return str(self.code_systems[code_system_id]["url"])

    def codes(self, code_system_id: str) -> dict[str, str]:
        """code → display of a complete CodeSystem."""
        concepts = self.code_systems[code_system_id].get("concept", [])
        return {c["code"]: c.get("display", c["code"]) for c in concepts}


def _naming_system(resource: dict[str, Any]) -> NamingSystem:
    preferred: str | None = None
    aliases: set[str] = set()
    for uid in resource.get("uniqueId", []):
        value = uid["value"]
        uri = f"urn:oid:{value}" if uid.get("type") == "oid" and not value.startswith("urn:") else value
        if uid.get("preferred") and preferred is None:
            preferred = uri
        else:
            aliases.add(uri)
    if preferred is None:
        raise PackageError(f"NamingSystem/{resource.get('id')} has no preferred uniqueId")
    rule = next(
        (e.get("valueCode") for e in resource.get("extension", []) if e["url"].endswith(RULE_EXTENSION)),
        None,
    )
    return NamingSystem(resource["id"], preferred, frozenset(aliases), rule)
