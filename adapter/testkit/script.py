"""The case the kit plays: the example case's messages with fresh ids, each with its process event,
the case after it and its receivers by the region's step table (the adapter's own functions)."""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.ids import random_uuid
from adapter.mapping.engine import Mapper
from adapter.process.case import DischargeCase
from adapter.process.events import Event
from adapter.routing.identity import copy_id
from adapter.routing.parties import receivers
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable


def header(bundle: dict[str, Any]) -> dict[str, Any]:
    return dict(bundle["entry"][0]["resource"])


def destination_ids(head: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        value
        for dest in head.get("destination") or []
        if isinstance(value := ((dest.get("receiver") or {}).get("identifier") or {}).get("value"), str)
    )


def event_of(mapper: Mapper, bundle: dict[str, Any]) -> Event:
    """The process event a canonical message carries, with its destinations as the adapter files it."""
    event, _ = mapper.to_event("canonical", BundleIndex(bundle))
    return dataclasses.replace(event, destinations=destination_ids(header(bundle)))


@dataclass(frozen=True)
class Step:
    name: str  # the example file's stem, e.g. 04-utskrivningsklar
    bundle: dict[str, Any]
    event: Event
    before: DischargeCase | None  # the case before this message
    after: DischargeCase
    receivers: frozenset[str]

    @property
    def kind(self) -> str:
        return self.event.kind

    @property
    def message_id(self) -> str:
        return self.event.message_id


def fresh(texts: list[str], parties: tuple[str, ...]) -> list[str]:
    """The messages with new message, Bundle and case ids, so that a run never meets an earlier
    run's case; every reference to an earlier message follows its new id (same text). A reference
    to a party's copy of an earlier message (an example kvittens names the copy its sender got)
    names the message itself: the kit puts in the id its party received it by when it sends."""
    bundles = [json.loads(t) for t in texts]
    messages = {header(b)["id"] for b in bundles}
    renamed = {o: random_uuid() for o in messages | {b["id"] for b in bundles}}
    for message in messages:
        for party in parties:
            renamed[copy_id(message, party)] = renamed[message]
    case_ids = {
        e["resource"]["identifier"][0]["value"]
        for b in bundles
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    }
    for case_id in case_ids:
        prefix = case_id.rsplit("-", 1)[0]
        renamed[case_id] = f"{prefix}-{secrets.randbelow(900000) + 100000}"
    out = []
    for text in texts:
        for before, after in renamed.items():
            text = text.replace(f'"{before}"', f'"{after}"')
        out.append(text)
    return out


def load_script(case_dir: Path, mapper: Mapper, routing: RoutingTable, steps: StepTable) -> list[Step]:
    paths = sorted(case_dir.glob("*.json"))
    if not paths:
        raise ValueError(f"{case_dir}: no example messages (*.json)")
    parties = tuple(p.hsa_id for p in routing.parties)
    script: list[Step] = []
    case: DischargeCase | None = None
    for path, text in zip(paths, fresh([p.read_text("utf-8") for p in paths], parties), strict=True):
        bundle = json.loads(text)
        event = event_of(mapper, bundle)
        after = DischargeCase.open(event) if case is None else case.with_event(event)
        got = receivers(steps.rule(event.kind), case=after, event=event, table=routing, steps=steps)
        script.append(Step(path.stem, bundle, event, case, after, got))
        case = after
    return script
