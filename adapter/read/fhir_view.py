"""The FHIR resources of the cases this adapter holds.

Inbound Bundles are not stored: the event log is the truth. A case's resources are rendered from
its events by the outbound renderer (`Mapper.to_bundle`), so a search returns the same resources
the adapter sends to the parties. Each message carries the current version of the resources it is
about, so the rendering of the latest event (in event time) that carries a resource wins; a
makulerat message contributes nothing. Each event is rendered with the case as it stands now, and
the Encounter's status and end are taken from the case itself: a discharged patient never shows as
in hospital. A protected patient's name and address are rendered only for readers that may see
them, as in the messages sent (adapter/security/protected.py).
"""

from __future__ import annotations

from typing import Any

from adapter.mapping.engine import Mapper
from adapter.mapping.outbound import Addressing
from adapter.process.case import CaseState, DischargeCase
from adapter.read.holdings import HeldCase
from adapter.security.protected import render_for
from adapter.store.case_cache import CaseCache

Resources = dict[str, dict[str, Any]]  # "Type/id" → resource
_URN = "urn:uuid:"


class FhirView:
    def __init__(self, mapper: Mapper, addressing: Addressing, cache: CaseCache) -> None:
        self.mapper = mapper
        self.addressing = addressing
        self.cache = cache  # the store's: a case's resources are kept with the case, as long as it is

    def resources(self, held: HeldCase, sees_details: bool = True) -> Resources:
        case_id, version = held.key
        return self.cache.derived(
            case_id, version, ("fhir", sees_details), lambda: self._render(held, sees_details)
        )

    def _render(self, held: HeldCase, sees_details: bool) -> Resources:
        by_url: dict[str, dict[str, Any]] = {}
        for event in held.case.events:
            if event.message_id in held.case.cancelled:
                continue
            try:
                bundle = render_for(
                    event, held.case, sees_details, lambda e, c: self.mapper.to_bundle(e, self.addressing, c)
                )
            except NotImplementedError:
                continue
            for entry in bundle.get("entry", [])[1:]:  # [0] is the MessageHeader
                url, resource = entry.get("fullUrl"), entry.get("resource")
                if isinstance(url, str) and isinstance(resource, dict):
                    by_url[url] = resource
        local = {url: f"{r['resourceType']}/{_id_of(url, r)}" for url, r in by_url.items()}
        out: Resources = {}
        for url, resource in by_url.items():
            relative = local[url]
            out[relative] = {**_relink(resource, local), "id": relative.split("/", 1)[1]}
            if resource["resourceType"] == "Encounter":
                out[relative] = _as_the_case_stands(out[relative], held.case)
        return out


# Encounter.status (R4 encounter-status) for each state of the case.
_ENCOUNTER_STATUS = {
    CaseState.INSKRIVEN: "in-progress",
    CaseState.UTSKRIVNINGSKLAR: "in-progress",
    CaseState.UTSKRIVEN: "finished",
    CaseState.AVLIDEN: "finished",
    CaseState.MAKULERAD: "entered-in-error",
}


def _as_the_case_stands(encounter: dict[str, Any], case: DischargeCase) -> dict[str, Any]:
    status = "onleave" if case.on_leave else _ENCOUNTER_STATUS[case.state]
    period = dict(encounter.get("period") or {})
    ended = case.discharged_at or case.died_at
    if ended is not None:
        period["end"] = ended.isoformat()
    return {**encounter, "status": status, **({"period": period} if period else {})}


def _id_of(full_url: str, resource: dict[str, Any]) -> str:
    if full_url.startswith(_URN):
        return full_url[len(_URN) :]
    return str(resource.get("id") or full_url.rsplit("/", 1)[-1])


def _relink(value: Any, local: dict[str, str]) -> Any:
    """References to entries of the message become references a FHIR client can read."""
    if isinstance(value, dict):
        return {
            k: local.get(v, v) if k == "reference" and isinstance(v, str) else _relink(v, local)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_relink(v, local) for v in value]
    return value
