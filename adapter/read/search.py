"""FHIR search and read over the cases this adapter holds: every case the reader may see is
rendered (adapter/read/fhir_view.py) and its resources matched against the criteria
(adapter/read/search_params.py). The HTTP side, paging and audit are adapter/api/search.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter.read.fhir_view import FhirView
from adapter.read.holdings import HeldCase, Holdings
from adapter.read.search_params import Criterion, matches
from adapter.validation.terminology import Terminology

Found = list[tuple[HeldCase, dict[str, Any]]]  # each resource with the case it comes from


def canonical_system(terms: Terminology) -> Callable[[str], str]:
    """A code system's preferred URL, for any of its names."""

    def canonical(system: str) -> str:
        naming = terms.lookup(system)
        return naming.preferred if naming else system

    return canonical


def search(
    holdings: Holdings,
    view: FhirView,
    resource_type: str,
    criteria: list[Criterion],
    scope: str | None,
    sees_details: bool,
    canonical: Callable[[str], str],
) -> Found:
    """Every resource of `resource_type` matching every criterion in the cases of `scope` (None:
    every case), oldest case first; Patients one per person."""
    found: Found = []
    for held in holdings.cases(scope):
        resources = view.resources(held, sees_details)
        for resource in resources.values():
            if resource["resourceType"] == resource_type and all(
                matches(resource, c, resources.get, canonical) for c in criteria
            ):
                found.append((held, resource))
    return _one_per_person(found, canonical) if resource_type == "Patient" else found


def _one_per_person(found: Found, canonical: Callable[[str], str]) -> Found:
    """Each case renders its own Patient; a person with several stays is one Patient in a search:
    the one of the newest case (the latest name and address), where the person was first found."""
    by_person: dict[tuple[str, ...], int] = {}
    people: Found = []
    for held, patient in found:
        person = tuple(
            sorted(
                f"{canonical(i.get('system', ''))}|{i.get('value')}"
                for i in patient.get("identifier") or []
                if isinstance(i, dict)
            )
        ) or (f"Patient/{patient['id']}",)
        if person in by_person:
            people[by_person[person]] = (held, patient)  # cases come oldest first
        else:
            by_person[person] = len(people)
            people.append((held, patient))
    return people


def read(
    holdings: Holdings, view: FhirView, wanted: str, scope: str | None, sees_details: bool
) -> tuple[HeldCase, dict[str, Any]] | None:
    """The resource `wanted` ("Type/id") in the cases of `scope`, with its case."""
    for held in holdings.cases(scope):
        resource = view.resources(held, sees_details).get(wanted)
        if resource is not None:
            return held, resource
    return None
