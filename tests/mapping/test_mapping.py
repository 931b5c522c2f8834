"""The canonical mapping, both directions, for every process event: event → FHIR → event is the
identity, FHIR → event → FHIR keeps every element a rule reads, every outbound message is valid
against the project's profiles, and what no rule reads is reported."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import string
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.config import PROJECT_ROOT
from adapter.fhir.bundle import BundleIndex
from adapter.mapping.engine import Mapper
from adapter.mapping.outbound import outbound_message_id
from adapter.mapping.template import TemplateError
from adapter.process.avvikelser import Rule
from adapter.process.case import DischargeCase
from adapter.process.events import (
    EVENT_TYPES,
    Activity,
    Address,
    CareKind,
    DokumenteradOverenskommelse,
    Event,
    Inskrivningsmeddelande,
    MeetingMode,
    NeedsCategory,
    Participant,
    Party,
    Patient,
    Planeringsunderlag,
    SipUpprattad,
)
from tests.support.mapping import TO, mapper
from tests.support.parties import KOMMUN
from tests.support.validation_messages import EVENTS, lus_validator, message

# --- strategies: values a party may send ---

words = st.text(string.ascii_letters + string.digits + "åäöÅÄÖ", min_size=1, max_size=12)
texts = st.lists(words, min_size=1, max_size=4).map(" ".join)
hsa_ids = st.from_regex(r"TSTNMT2321000156-[A-Z0-9]{1,8}", fullmatch=True)
offsets = st.sampled_from([timezone(timedelta(hours=1)), timezone(timedelta(hours=2)), UTC])
moments = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31)).map(lambda d: d.replace(microsecond=0)),
    offsets,
)
days = st.dates(date(2024, 1, 1), date(2030, 12, 31))
urls = words.map(lambda w: f"https://video.example.invalid/{w}")

BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    # The transport's, set by the pipeline rather than read from the message's content:
    "destinations": st.just(()),
    "received_as": st.none(),
    "sender": hsa_ids,
    "unit": hsa_ids,
    "contact_hsa_id": hsa_ids,
    "hsa_id": st.none() | hsa_ids,
    "vardcentral": st.none() | hsa_ids,
    "identifier_system": st.just("http://electronichealth.se/identifier/personnummer"),
    "identifier": st.sampled_from(["191212121212", "201212121212", "195009072553", "200001252386"]),
    "municipality_code": st.from_regex(r"[0-9]{4}", fullmatch=True),
    "code": st.sampled_from(["ok", "transient-error", "fatal-error"]),
    "disposition": st.none() | st.sampled_from(["home", "other-hcf", "snf", "oth"]),
    "url": st.none() | urls,
    "party": st.sampled_from(list(Party)),
    "appointment_id": words,
    "plan_type": st.sampled_from(["SPU", "SIP", "DO"]),
    "status": st.sampled_from(["draft", "active", "on-hold", "revoked", "completed"]),
    "message_id": st.uuids().map(str),
    "acknowledged_message_id": st.uuids().map(str),
    "cancelled_message_id": st.uuids().map(str),  # a kallelse without one is sent under its message id
    "avvikelse": st.none() | st.sampled_from([r.value for r in Rule]),
    "concerns": st.none() | hsa_ids,
}
BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "str": words,
    "str | None": st.none() | texts,
    "datetime": moments,
    "datetime | None": st.none() | moments,
    "date": days,
    "date | None": st.none() | days,
    "bool": st.booleans(),
    "CareKind": st.sampled_from(list(CareKind)),
    "NeedsCategory": st.sampled_from(list(NeedsCategory)),
    "MeetingMode": st.sampled_from(list(MeetingMode)),
    "Party | None": st.none() | st.sampled_from(list(Party)),
    "tuple[str, ...]": st.lists(texts, max_size=2).map(tuple),
}


def build(cls: type) -> st.SearchStrategy[Any]:
    nested: dict[str, Any] = {
        "patient": lambda: build(Patient),
        "address": lambda: st.none() | build(Address),
        "activities": lambda: st.lists(build(Activity), max_size=3).map(tuple),
        "participants": lambda: st.lists(build(Participant), max_size=3).map(tuple),
        "contacts": lambda: st.lists(build(Participant), max_size=3).map(tuple),
    }
    kwargs = {
        f.name: nested[f.name]()
        if f.name in nested
        else BY_NAME[f.name]
        if f.name in BY_NAME
        else BY_TYPE[str(f.type)]
        for f in dataclasses.fields(cls)
        if f.init
    }
    return st.builds(cls, **kwargs)


def _sendable(event: Event) -> Event:
    """What the profiles demand of any sender: a video meeting says where to join it; an
    appointment participant or contact is someone (a role or an HSA-id); a SIP or dokumenterad
    överenskommelse has an activity, and the latter a care team; an inskrivningsmeddelande names the
    patient, the folkbokföringsadress and the expected discharge."""
    if getattr(event, "mode", None) is MeetingMode.VIDEO and getattr(event, "url", 1) is None:
        event = dataclasses.replace(event, url="https://video.example.invalid/m")  # type: ignore[type-var]
    for name in ("participants", "contacts"):
        if hasattr(event, name):
            people = tuple(
                p if p.role or p.hsa_id else dataclasses.replace(p, role="patient")
                for p in getattr(event, name)
            )
            event = dataclasses.replace(event, **{name: people})  # type: ignore[type-var]
    sip_or_do = isinstance(event, SipUpprattad | DokumenteradOverenskommelse)
    if sip_or_do or (isinstance(event, Planeringsunderlag) and event.plan_type != "SPU"):  # an activity
        event = dataclasses.replace(event, activities=event.activities or (Activity(kind="hemtjänst"),))
    if isinstance(event, DokumenteradOverenskommelse) or (
        isinstance(event, Planeringsunderlag) and event.plan_type == "DO"
    ):  # DO: a care team
        event = dataclasses.replace(event, contacts=event.contacts or (Participant(role="fast vårdkontakt"),))
    if isinstance(event, Inskrivningsmeddelande):  # name, address and expected discharge are required
        patient = dataclasses.replace(
            event.patient,
            family=event.patient.family or "Tolvansson",
            address=event.patient.address or Address(municipality_code="1480"),
        )
        event = dataclasses.replace(
            event, patient=patient, expected_discharge=event.expected_discharge or date(2026, 11, 27)
        )
    return event


events = st.sampled_from(sorted(EVENT_TYPES)).flatmap(lambda kind: build(EVENT_TYPES[kind])).map(_sendable)
cases = build(Inskrivningsmeddelande).map(_sendable).map(DischargeCase.open)


def errors(bundle: dict[str, Any]) -> list[str]:
    issues = lus_validator().validate_message(bundle)
    return [f"{i.expression}: {i.message}" for i in issues if i.blocking]


# --- event → FHIR → event ---


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, case=cases)
def test_event_to_fhir_to_event_is_identity(event: Event, case: DischargeCase) -> None:
    if isinstance(event, Inskrivningsmeddelande):
        case = DischargeCase.open(event)
    else:  # a case admitted before anything generated happens in it
        case = dataclasses.replace(case, admitted_at=datetime(2023, 1, 1, tzinfo=UTC))
    bundle = mapper().to_bundle(event, TO, case)
    assert errors(bundle) == []
    Bundle.model_validate(bundle)  # fhir.resources R4B parses it too
    back, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    assert warnings == []
    # The outbound message has its own id (stable per recipient); everything else is the event's.
    assert back.message_id == outbound_message_id(event.message_id, KOMMUN)
    assert dataclasses.replace(back, message_id=event.message_id) == event


# --- FHIR → event → FHIR ---


@pytest.mark.parametrize("kind", EVENTS)
def test_fhir_to_event_to_fhir_keeps_every_mapped_element(kind: str) -> None:
    """Each rule's FHIRPath finds the same values in what came in and in what goes out."""
    incoming = message(kind)
    event, _ = mapper().to_event("canonical", BundleIndex(incoming))
    case = DischargeCase.open(
        mapper().to_event("canonical", BundleIndex(message("inskrivningsmeddelande")))[0]
    )
    outgoing = mapper().to_bundle(event, TO, case)
    assert errors(outgoing) == []
    rule = mapper().rules[("canonical", kind)]
    compared = 0
    for compiled in rule.fields:
        if compiled.name == "message_id":
            continue
        before = _read(mapper(), rule, incoming, compiled)
        after = _read(mapper(), rule, outgoing, compiled)
        if compiled.each:  # an element absent in the input comes out as its field's default
            defaults = {sub.name: sub.rule.default for sub in compiled.each}
            after = [
                {k: v for k, v in a.items() if b[k] or v != [defaults[k]]}
                for a, b in zip(after, before, strict=False)
            ]
            before = [{k: v for k, v in b.items() if v or defaults[k] is None} for b in before]
        if compiled.rule.type in ("dateTime", "date"):
            before, after = [str(v)[:19] for v in before], [str(v)[:19] for v in after]
        assert after == before, f"{kind}: {compiled.name} ({compiled.rule.path})"
        compared += 1
    assert compared >= 3


def _read(mapper_: Mapper, rule: Any, bundle: dict[str, Any], compiled: Any) -> list[Any]:
    from adapter.mapping.inbound import _resolve_resources

    scope, _ = _resolve_resources(rule, BundleIndex(bundle))
    resource = scope.get(compiled.rule.source)
    context = {**mapper_.env, **rule.constants}
    found = compiled.evaluate(resource, context) if resource is not None else []
    if compiled.each:  # per item, what each of its fields reads
        return [{sub.name: sub.evaluate(node, context) for sub in compiled.each} for node in found]
    return found


# --- what no rule reads is reported ---


def test_an_element_no_rule_reads_is_a_warning_with_its_path() -> None:
    bundle = copy.deepcopy(message("inskrivningsmeddelande"))
    encounter = bundle["entry"][1]["resource"]
    encounter["priority"] = {"text": "akut"}
    encounter["extension"].append({"url": "https://region.example.invalid/ext/bed", "valueString": "12"})
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    assert sorted(w.expression for w in warnings) == [
        "Bundle.entry[1].resource.extension[3]",
        "Bundle.entry[1].resource.priority",
    ]
    assert {w.severity for w in warnings} == {"warning"}
    assert all(w.rule == "mapping-unmapped" for w in warnings)


def test_every_event_kind_has_a_canonical_mapping_both_ways() -> None:
    rules = mapper().rules
    assert sorted(rule.event for (dialect, _), rule in rules.items() if dialect == "canonical") == sorted(
        EVENT_TYPES
    )
    assert all(rule.render is not None for rule in rules.values() if rule.dialect == "canonical")


def test_an_element_of_a_tuple_item_no_rule_reads_is_a_warning_with_its_path() -> None:
    bundle = message("planeringsunderlag", performers=2)
    _, warnings = mapper().to_event("canonical", BundleIndex(bundle))
    focus = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "CarePlan")
    assert [w.expression for w in warnings] == [
        f"Bundle.entry[{focus}].resource.activity[{n}].detail.performer" for n in range(2)
    ]


def test_a_template_naming_an_unknown_field_stops_start_up(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "mappings", tmp_path / "mappings")
    broken = tmp_path / "mappings" / "canonical" / "utskrivningsmeddelande.yaml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("${disposition}", "${dispositon}"), encoding="utf-8"
    )
    with pytest.raises(
        TemplateError, match=r"utskrivningsmeddelande\.yaml: encounter: unknown field 'dispositon'"
    ):
        Mapper.from_dir(tmp_path / "mappings", lus_validator().package)
