"""The tidbok in process (the hospital unit's adapter, SV41): publishing Schedule and Slot by the
own party only, searching, bad input refused with nothing stored, and the bookings a planeringsmöte
makes: a slot taken once (409 for the next, located at its reference), freed by a rebooking and
by a cancellation. Across adapters as deployed: tests/system/test_tidbok_network.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from adapter.app import create_app
from adapter.routing.policy import slots_taken
from adapter.runtime import Runtime
from adapter.store import schema, tidbok
from adapter.store.tidbok import SlotTaken
from tests.support.examples import load_example
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.tidbok_messages import (
    FIRST_STEPS,
    booking,
    cancellation,
    makulering,
    new_id,
    rebooking,
    schedule,
    slot,
)

FHIR = {"Content-Type": "application/fhir+json"}
AS_SELF = {**FHIR, "X-LUS-Party": SELF}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def send(client: TestClient, bundle: dict[str, Any], party: str = VARDCENTRAL) -> Any:
    return client.post(
        "/fhir/$process-message", content=orjson.dumps(bundle), headers={**FHIR, "X-LUS-Party": party}
    )


def publish(client: TestClient) -> tuple[str, list[str]]:
    """A schedule of the unit and three free slots on 26 November (10:00, 13:00, 15:00)."""
    reply = client.post("/fhir/Schedule", content=orjson.dumps(schedule(SELF)), headers=AS_SELF)
    assert reply.status_code == 201, reply.text
    schedule_id = reply.json()["id"]
    assert reply.headers["Location"].endswith(f"/Schedule/{schedule_id}")
    slots = []
    for hour in (10, 13, 15):
        body = slot(schedule_id, f"2026-11-26T{hour}:00:00+01:00", f"2026-11-26T{hour}:45:00+01:00")
        reply = client.post("/fhir/Slot", content=orjson.dumps(body), headers=AS_SELF)
        assert reply.status_code == 201, reply.text
        slots.append(reply.json()["id"])
    return schedule_id, slots


def free_slots(client: TestClient, party: str = KOMMUN) -> list[str]:
    reply = client.get(
        "/fhir/Slot",
        params={
            "schedule.actor": f"urn:oid:1.2.752.29.4.19|{SELF}",
            "start": "ge2026-11-26",
            "status": "free",
        },
        headers={"X-LUS-Party": party},
    )
    assert reply.status_code == 200, reply.text
    return [e["resource"]["id"] for e in reply.json()["entry"]]


def open_case(client: TestClient) -> None:
    for name in FIRST_STEPS:
        bundle = load_example(name)
        sender = next(
            e["resource"]["identifier"][0]["value"]
            for e in bundle["entry"]
            if e["fullUrl"] == bundle["entry"][0]["resource"]["sender"]["reference"]
        )
        assert send(client, bundle, sender).status_code == 200


def test_publish_and_search(client: TestClient) -> None:
    schedule_id, slots = publish(client)
    assert free_slots(client) == slots
    by_actor = client.get("/fhir/Schedule", params={"actor": SELF}, headers={"X-LUS-Party": KOMMUN}).json()
    assert [e["resource"]["id"] for e in by_actor["entry"]] == [schedule_id]
    window = client.get(
        "/fhir/Slot",
        params=[
            ("schedule.actor", SELF),
            ("start", "ge2026-11-26T12:00:00+01:00"),
            ("start", "lt2026-11-26T14:00:00+01:00"),
        ],
    ).json()
    assert [e["resource"]["id"] for e in window["entry"]] == [slots[1]]
    assert client.get("/fhir/Slot", params={"schedule.actor": KOMMUN}).json()["total"] == 0
    assert client.get("/fhir/Slot", params={"service-type": "home"}).json()["total"] == 0
    # Changing a free slot: marked unavailable, it is no longer offered.
    changed = slot(
        schedule_id, "2026-11-26T15:00:00+01:00", "2026-11-26T15:45:00+01:00", status="busy-unavailable"
    )
    reply = client.put(f"/fhir/Slot/{slots[2]}", content=orjson.dumps(changed), headers=AS_SELF)
    assert reply.status_code == 200, reply.text
    assert free_slots(client) == slots[:2]
    assert client.get(f"/fhir/Slot/{slots[2]}").json()["status"] == "busy-unavailable"
    capability = client.get("/fhir/metadata").json()["rest"][0]["resource"]
    assert {"Slot", "Schedule"} <= {r["type"] for r in capability}


def test_only_the_own_party_publishes(client: TestClient) -> None:
    schedule_id, slots = publish(client)
    as_kommun = {**FHIR, "X-LUS-Party": KOMMUN}
    reply = client.post("/fhir/Schedule", content=orjson.dumps(schedule(KOMMUN)), headers=as_kommun)
    assert reply.status_code == 403 and reply.json()["resourceType"] == "OperationOutcome"
    body = slot(schedule_id, "2026-11-27T10:00:00+01:00", "2026-11-27T10:45:00+01:00")
    assert (
        client.put(f"/fhir/Slot/{slots[0]}", content=orjson.dumps(body), headers=as_kommun).status_code == 403
    )
    assert client.get(f"/fhir/Slot/{slots[0]}").json()["start"] == "2026-11-26T10:00:00+01:00"


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        ({"start": "2026-11-26T10:00:00"}, 422, "Slot.start"),
        ({"end": "2026-11-26T09:00:00+01:00"}, 422, "Slot.end"),
        ({"status": "busy"}, 422, "Slot.status"),
        ({"schedule": {"reference": "Schedule/nowhere"}}, 422, "Slot.schedule"),
        (
            {
                "serviceType": [
                    {
                        "coding": [
                            {"system": "https://lus-adapter.org/fhir/CodeSystem/meeting-place", "code": "pub"}
                        ]
                    }
                ]
            },
            422,
            "Slot.serviceType",
        ),
        ({"start": 12}, 422, "Slot.start"),
    ],
)
def test_bad_slots_are_refused_and_leave_nothing(
    client: TestClient, runtime: Runtime, change: dict[str, Any], status: int, where: str
) -> None:
    schedule_id, _ = publish(client)
    body = {**slot(schedule_id, "2026-11-26T10:00:00+01:00", "2026-11-26T10:45:00+01:00"), **change}
    reply = client.post("/fhir/Slot", content=orjson.dumps(body), headers=AS_SELF)
    assert reply.status_code == status, reply.text
    issue = reply.json()["issue"][0]
    assert issue["expression"][0].startswith(where), issue
    with runtime.store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(schema.slots)).scalar() == 3


def test_bad_searches_are_400(client: TestClient) -> None:
    for params in (
        {"start": "ge26 nov"},
        {"start": "ge2026-11-26T10:00"},
        {"start": "le9999-12-31"},
        {"status": "taken"},
        {"_count": "0"},
    ):
        reply = client.get("/fhir/Slot", params=params)
        assert reply.status_code == 400, (params, reply.text)
        assert reply.json()["resourceType"] == "OperationOutcome"


def test_booking_takes_slots_once_rebooking_and_cancelling_free_them(
    client: TestClient, runtime: Runtime
) -> None:
    _, (ten, one, three) = publish(client)
    open_case(client)
    meeting = new_id()
    base = runtime.routing.self_.base_url
    # Another adapter's slot is that adapter's to book, even one whose id is also an id here.
    first = booking(meeting, [f"{base}/Slot/{ten}", f"https://other.example.invalid/fhir/Slot/{three}"])
    reply = send(client, first)
    assert reply.status_code == 200, reply.text
    assert free_slots(client) == [one, three]
    assert client.get(f"/fhir/Slot/{ten}").json()["status"] == "busy"

    # Another meeting into the taken slot: 409 at its reference, and nothing of it is stored.
    with runtime.store.reading() as conn:
        events = conn.execute(select(func.count()).select_from(schema.events)).scalar()
    other = booking(new_id(), [f"Slot/{one}", f"Slot/{ten}"])
    reply = send(client, other)
    assert reply.status_code == 409, reply.text
    issue = reply.json()["issue"][0]
    assert issue["code"] == "conflict" and issue["expression"] == ["Bundle.entry[1].resource.slot[1]"]
    assert free_slots(client) == [one, three]  # the first slot it named is not kept either
    with runtime.store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(schema.events)).scalar() == events
    # The booking's message again (a resend) is answered as before, not as a conflict.
    assert send(client, first).status_code == 200

    # A slot no meeting holds may change; a booked one may not.
    taken = client.get(f"/fhir/Slot/{ten}").json()
    reply = client.put(
        f"/fhir/Slot/{ten}", content=orjson.dumps({**taken, "status": "free"}), headers=AS_SELF
    )
    assert reply.status_code == 409, reply.text

    assert send(client, rebooking(meeting, [f"Slot/{three}"])).status_code == 200
    assert free_slots(client) == [ten, one]
    assert send(client, cancellation(meeting)).status_code == 200
    assert free_slots(client) == [ten, one, three]


def test_a_makulering_undoes_what_its_message_did_to_the_slots(client: TestClient) -> None:
    """The slots follow the case as it stands once a message is made void: a booking's makulering
    frees its slots, a rebooking's gives the meeting back the slots it held before, a
    cancellation's takes them again (409 when another meeting has one since)."""
    _, (ten, one, three) = publish(client)
    open_case(client)
    first, second = new_id(), new_id()
    booked = booking(first, [f"Slot/{ten}"])
    assert send(client, booked).status_code == 200
    assert send(client, (void := makulering(booked))).status_code == 200, void
    assert free_slots(client) == [ten, one, three]

    assert send(client, booking(second, [f"Slot/{ten}"])).status_code == 200
    moved = rebooking(second, [f"Slot/{three}"])
    assert send(client, moved).status_code == 200
    assert free_slots(client) == [ten, one]
    assert send(client, makulering(moved)).status_code == 200
    assert free_slots(client) == [one, three]  # back in the 10:00 it was booked into

    cancelled = cancellation(second)
    assert send(client, cancelled).status_code == 200
    assert free_slots(client) == [ten, one, three]
    assert send(client, booking(new_id(), [f"Slot/{ten}"])).status_code == 200
    reply = send(client, makulering(cancelled))  # the meeting would need the 10:00 back: taken
    assert reply.status_code == 409, reply.text
    assert reply.json()["issue"][0]["code"] == "conflict"
    assert free_slots(client) == [one, three]


def test_two_bookings_of_one_slot_in_two_cases_at_once(client: TestClient, runtime: Runtime) -> None:
    """Two meetings of different cases (no case lock between them) take one slot in concurrent
    transactions: the conditional UPDATE lets exactly one have it, on SQLite and PostgreSQL."""
    _, (ten, _, _) = publish(client)
    gate = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def book(case_id: str) -> None:
        gate.wait()
        try:
            with runtime.store.transaction() as conn:
                tidbok.book(conn, [ten], case_id, "PM-1", time.time())
                time.sleep(0.2)  # hold the row while the other tries it
            outcome[case_id] = "booked"
        except SlotTaken:
            outcome[case_id] = "taken"

    threads = [threading.Thread(target=book, args=(case_id,)) for case_id in ("CASE-A", "CASE-B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcome.values()) == ["booked", "taken"], outcome
    [winner] = [c for c, o in outcome.items() if o == "booked"]
    with runtime.store.reading() as conn:
        held = tidbok.slot_get(conn, ten)
    assert held is not None and (held.status, held.case_id) == ("busy", winner)


def test_a_copy_leaves_a_taken_slot_to_its_meeting_and_its_sender_reads_the_warning(
    client: TestClient, runtime: Runtime
) -> None:
    """Not strict (a copy from another party's adapter): the slot stays with the meeting that has
    it, the copy's meeting takes what is free and learns which it did not get; the warning in the
    answer is what the sending adapter's worker records (`slots_taken`)."""
    _, (ten, one, _) = publish(client)
    with runtime.store.transaction() as conn:
        assert tidbok.book(conn, [ten], "CASE-A", "PM-1", time.time()) == []
        assert tidbok.book(conn, [ten, one], "CASE-B", "PM-2", time.time(), strict=False) == [ten]
        assert (tidbok.slot_get(conn, ten) or pytest.fail()).case_id == "CASE-A"
        assert (tidbok.slot_get(conn, one) or pytest.fail()).case_id == "CASE-B"
    warning = {
        "severity": "warning",
        "code": "conflict",
        "diagnostics": "Slot https://k.example/fhir/Slot/1 was booked by another meeting …",
        "details": {"coding": [{"system": "urn:lus-adapter:validation-rule", "code": "slot-taken"}]},
    }
    other = {"severity": "warning", "code": "business-rule", "diagnostics": "Case closed."}
    answer = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "MessageHeader"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": [other, warning]}},
        ],
    }
    assert slots_taken(orjson.dumps(answer)) == warning["diagnostics"]
    answer["entry"][1]["resource"]["issue"] = [other]
    assert slots_taken(orjson.dumps(answer)) is None
    for odd in (
        b"not json",
        b"[]",
        b'{"entry": 1}',
        b'{"entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [{"details": "x"}, 3]}}]}',
    ):
        assert slots_taken(odd) is None, odd  # whatever a party's system answers
