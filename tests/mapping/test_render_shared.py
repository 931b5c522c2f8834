"""Entries that read nothing of the recipient are rendered once per event and given to every
recipient (outbound.SharedEntries): each message must still be exactly the one rendered alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.config import PROJECT_ROOT
from adapter.fhir.bundle import BundleIndex
from adapter.mapping import outbound
from adapter.mapping.outbound import SharedEntries
from adapter.process.case import DischargeCase
from tests.support.mapping import TO, mapper
from tests.support.parties import VARDCENTRAL

EXAMPLES = sorted((PROJECT_ROOT / "examples" / "bundles").glob("canonical*/*.json"))
TO_VC = dataclasses.replace(TO, recipient_hsa_id=VARDCENTRAL, recipient_endpoint="http://127.0.0.1:9/vc")


@pytest.fixture(autouse=True)
def fixed_bundle_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound, "random_uuid", lambda: "00000000-0000-0000-0000-000000000000")


def _event_and_case(example: Path) -> tuple[Any, DischargeCase]:
    opening = example.parent / "01-inskrivningsmeddelande.json"
    first, _ = mapper().to_event("canonical", BundleIndex(json.loads(opening.read_text())))
    event, _ = mapper().to_event("canonical", BundleIndex(json.loads(example.read_text())))
    return event, DischargeCase.open(first)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recipient_gets_the_message_it_would_get_alone(example: Path) -> None:
    event, case = _event_and_case(example)
    alone = [mapper().to_bundle(event, to, case) for to in (TO, TO_VC)]
    shared = SharedEntries()
    together = [mapper().to_bundle(event, to, case, shared) for to in (TO, TO_VC)]
    assert json.dumps(together) == json.dumps(alone)
    assert together[0]["entry"][0] != together[1]["entry"][0]  # each its own MessageHeader
    shared_entries = [e for e in together[1]["entry"][1:] if any(e is f for f in together[0]["entry"])]
    assert len(shared_entries) == len(together[1]["entry"]) - 1  # the rest rendered once


def test_an_entry_that_reads_the_recipient_is_rendered_for_each() -> None:
    example = next(p for p in EXAMPLES if p.stem.endswith("inskrivningsmeddelande"))
    event, case = _event_and_case(example)
    renderer = mapper().renderer
    rule = renderer.rules[event.kind]
    assert rule.render is not None
    key, body = renderer.entry(rule, rule.render, rule.render.focus)
    # The focus entry made to name its recipient, as an integration team's template may.
    renderer._entries[(rule.event, rule.render.focus)] = (key, {**body, "language": "${to.recipient_hsa_id}"})
    renderer._shareable.clear()
    try:
        shared = SharedEntries()
        first, second = (mapper().to_bundle(event, to, case, shared) for to in (TO, TO_VC))
        focus = [
            next(e for e in b["entry"] if e["fullUrl"] == b["entry"][0]["resource"]["focus"][0]["reference"])
            for b in (first, second)
        ]
        assert focus[0]["resource"]["language"] == TO.recipient_hsa_id
        assert focus[1]["resource"]["language"] == VARDCENTRAL
    finally:
        renderer._entries.pop((rule.event, rule.render.focus))
        renderer._shareable.clear()


def test_a_different_case_view_starts_afresh() -> None:
    # A recipient shown less of a protected patient renders from other objects: nothing is shared.
    example = next(p for p in EXAMPLES if p.stem.endswith("inskrivningsmeddelande"))
    event, case = _event_and_case(example)
    shared = SharedEntries()
    first = mapper().to_bundle(event, TO, case, shared)
    other_case = dataclasses.replace(case)
    second = mapper().to_bundle(event, TO_VC, other_case, shared)
    assert not any(e is f for e in second["entry"] for f in first["entry"])
