"""Message identity across hops (adapter/routing/identity.py, docs/delivery.md), in process: a
reference to any copy's id resolves to the message's origin id, each recipient is sent the id it
knows, and a copy that cannot apply yet is answered 425 and leaves nothing behind."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from adapter.mapping.outbound import outbound_message_id
from adapter.runtime import Runtime
from tests.support.example_case import STEPS, case_and_outbox, header_id, play_steps
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

ORIGIN = "https://lus-adapter.org/fhir/StructureDefinition/origin-message"


def example(step: int) -> dict[str, Any]:
    return dict(orjson.loads(STEPS[step - 1].read_bytes()))


def test_a_makulering_naming_a_copy_voids_the_message_and_each_recipient_reads_its_own_id(
    runtime: Runtime,
) -> None:
    play_steps(runtime, STEPS[:11])
    voiding = example(12)
    provenance = next(
        e["resource"] for e in voiding["entry"] if e["resource"]["resourceType"] == "Provenance"
    )
    # The hospital's system names the vårdcentral's copy of its changed discharge date.
    provenance["entity"][0]["what"]["identifier"]["value"] = outbound_message_id(header_id(11), VARDCENTRAL)
    result = runtime.pipeline.process_message(orjson.dumps(voiding))
    assert result.status == 200, result.body[:500]
    case, rows = case_and_outbox(runtime, "SU-2026-000123")
    assert case is not None and case.cancelled == frozenset({header_id(11)})
    for row in rows:
        if row.kind != "makulering":
            continue
        sent = orjson.loads(row.body)
        [named] = [
            e["resource"]["entity"][0]["what"]["identifier"]["value"]
            for e in sent["entry"]
            if e["resource"]["resourceType"] == "Provenance"
        ]
        assert named == outbound_message_id(header_id(11), row.recipient)  # the id that recipient got
        header = sent["entry"][0]["resource"]
        assert header["extension"] == [{"url": ORIGIN, "valueId": header_id(12)}]


def as_copy(bundle: dict[str, Any], to: str) -> dict[str, Any]:
    """The message as its sender's adapter sends it on to `to`'s adapter."""
    sent = copy.deepcopy(bundle)
    header = sent["entry"][0]["resource"]
    origin = header["id"]
    header["id"] = outbound_message_id(origin, to)
    header["extension"] = [{"url": ORIGIN, "valueId": origin}]
    header["destination"] = [
        {
            "endpoint": "http://127.0.0.1:9/none",
            "receiver": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": to}},
        }
    ]
    sent["id"] = outbound_message_id(sent["id"], to)
    return sent


def test_a_copy_that_arrives_before_its_case_is_answered_425_and_applies_later(runtime: Runtime) -> None:
    kallelse = as_copy(example(5), SELF)  # from the vårdcentral's adapter
    early = runtime.pipeline.process_message(orjson.dumps(kallelse), caller=VARDCENTRAL)
    assert early.status == 425
    assert orjson.loads(early.body)["issue"][0]["details"]["coding"][0]["code"] == "not-yet"
    case, rows = case_and_outbox(runtime, "SU-2026-000123")
    assert case is None and rows == []

    play_steps(runtime, STEPS[:4])
    later = runtime.pipeline.process_message(orjson.dumps(kallelse), caller=VARDCENTRAL)
    assert later.status == 200, later.body[:500]
    case, rows = case_and_outbox(runtime, "SU-2026-000123")
    assert case is not None and case.kallelse_at is not None
    # Filed under its origin id; routed once, by the vårdcentral's adapter: here only to this
    # adapter's own party, under the same id the copy came with.
    assert case.events[-1].message_id == header_id(5)
    assert [(r.recipient, r.kind) for r in rows if r.kind == "kallelse-sip"] == [(SELF, "kallelse-sip")]
    [sent] = [orjson.loads(r.body) for r in rows if r.kind == "kallelse-sip"]
    assert sent["entry"][0]["resource"]["id"] == kallelse["entry"][0]["resource"]["id"]
    # The same copy again is a duplicate, answered as before.
    again = runtime.pipeline.process_message(orjson.dumps(kallelse), caller=VARDCENTRAL)
    assert (again.status, again.duplicate) == (200, True)
    assert KOMMUN not in {r.recipient for r in rows if r.kind == "kallelse-sip"}


def test_a_copy_addressed_to_another_party_is_not_sent_on(runtime: Runtime) -> None:
    play_steps(runtime, STEPS[:4])
    kallelse = as_copy(example(5), KOMMUN)  # meant for the kommun's adapter, not this one
    result = runtime.pipeline.process_message(orjson.dumps(kallelse), caller=VARDCENTRAL)
    assert result.status == 422
    assert orjson.loads(result.body)["issue"][0]["details"]["coding"][0]["code"] == "not-addressed-here"
    _, rows = case_and_outbox(runtime, "SU-2026-000123")
    assert "kallelse-sip" not in {r.kind for r in rows}
