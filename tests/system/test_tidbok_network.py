"""The tidbok across adapters as deployed: the network of three (examples/network.py: three
`lus-adapter serve` processes over mutual TLS, SQLite or PostgreSQL). The kommun and the
vårdcentral publish their slots at their own adapters; the vårdcentral's system searches the
kommun's free slots there and books a SIP-möte into a slot of each; the kommun's adapter books its
slot when the message arrives. Two bookings of one slot at once: exactly one 200, one 409. A
rebooking and a cancellation free the slots, a makulering undoes what its message did to them; a
booking of a slot taken at the kommun's adapter on the way is accepted there without it, and the
sender's adapter records and counts that warning (docs/tidbok.md, "A slot taken on the way")."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.examples import EXAMPLES
from tests.support.network import running_network
from tests.support.parties import KOMMUN, VARDCENTRAL
from tests.support.tidbok_messages import (
    CASE,
    FIRST_STEPS,
    booking,
    cancellation,
    makulering,
    new_id,
    rebooking,
    schedule,
    slot,
)

pytestmark = pytest.mark.slow

FHIR = {"Content-Type": "application/fhir+json"}
DAY = "2026-11-26"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], scope="module")
def network(request: pytest.FixtureRequest) -> Iterator[Any]:
    with running_network(request, "tidbok", "lus_tidbok") as network:
        network.play([EXAMPLES / "bundles" / name for name in FIRST_STEPS])
        yield network


def publish(network: Any, party: str, hours: tuple[int, ...]) -> list[str]:
    """The party's system publishes a schedule and a slot at each hour at its own adapter."""
    client, base = network.clients[party], network.adapters[party].base
    reply = client.post(f"{base}/fhir/Schedule", content=json.dumps(schedule(party)), headers=FHIR)
    assert reply.status_code == 201, reply.text
    urls = []
    for hour in hours:
        body = slot(reply.json()["id"], f"{DAY}T{hour:02}:00:00+01:00", f"{DAY}T{hour:02}:45:00+01:00")
        created = client.post(f"{base}/fhir/Slot", content=json.dumps(body), headers=FHIR)
        assert created.status_code == 201, created.text
        urls.append(created.headers["Location"])
    return urls


def free(network: Any, owner: str, searcher: str = VARDCENTRAL) -> list[str]:
    """The owner's free slots that day, as the searcher's system finds them at the owner's adapter."""
    reply = network.clients[searcher].get(
        f"{network.adapters[owner].base}/fhir/Slot",
        params={"schedule.actor": owner, "start": f"ge{DAY}", "status": "free"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return [e["fullUrl"] for e in reply.json()["entry"]]


def test_publish_search_book_concurrently_rebook_and_cancel(network: Any) -> None:
    kommun = publish(network, KOMMUN, (9, 10, 11))
    vardcentral = publish(network, VARDCENTRAL, (10, 13))
    # Only the owning party publishes: the vårdcentral's system cannot write the kommun's tidbok.
    refused = network.clients[VARDCENTRAL].post(
        f"{network.adapters[KOMMUN].base}/fhir/Schedule",
        content=json.dumps(schedule(VARDCENTRAL)),
        headers=FHIR,
    )
    assert refused.status_code == 403, refused.text
    assert free(network, KOMMUN) == kommun  # searched over mTLS at the kommun's adapter
    assert free(network, VARDCENTRAL, searcher=KOMMUN) == vardcentral

    # The vårdcentral books the SIP-möte into its own 10:00 and the kommun's 10:00.
    meeting = new_id()
    assert network.post(booking(meeting, [vardcentral[0], kommun[1]])).status_code == 200
    network.settle()
    assert free(network, VARDCENTRAL) == vardcentral[1:]
    assert free(network, KOMMUN) == [kommun[0], kommun[2]]  # booked when the message arrived there

    # Two bookings of the vårdcentral's 13:00 at the same moment: exactly one wins.
    race = [booking(new_id(), [vardcentral[1]], f"{DAY}T13:00:00+01:00") for _ in range(2)]
    gate = threading.Barrier(2)
    replies: list[httpx.Response] = []

    def book(message: dict[str, Any]) -> None:
        gate.wait()
        replies.append(network.post(message))

    threads = [threading.Thread(target=book, args=(m,)) for m in race]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
    [lost] = [r.json() for r in replies if r.status_code == 409]
    assert lost["resourceType"] == "OperationOutcome"
    assert lost["issue"][0]["code"] == "conflict" and "not free" in lost["issue"][0]["diagnostics"]
    assert free(network, VARDCENTRAL) == []
    network.settle()

    # Rebooked into the kommun's 11:00: its 10:00 is free again.
    assert network.post(rebooking(meeting, [vardcentral[0], kommun[2]])).status_code == 200
    network.settle()
    assert free(network, KOMMUN) == kommun[:2]
    # Cancelled: every slot it held is free again, at both adapters.
    assert network.post(cancellation(meeting)).status_code == 200
    network.settle()
    assert free(network, KOMMUN) == kommun
    assert free(network, VARDCENTRAL) == [vardcentral[0]]

    # A booking of a kommun slot taken on the way (docs/tidbok.md): the kommun's adapter keeps the
    # slot with the meeting that has it and accepts the later meeting without it, saying so; the
    # vårdcentral's adapter records that on its delivered copy and counts it. Nothing waits behind
    # a dead letter: the meeting, rebooked into a free kommun slot, takes it there.
    first = booking(new_id(), [kommun[0]])
    assert network.post(first).status_code == 200
    network.settle()
    late = new_id()
    assert network.post(booking(late, [vardcentral[0], kommun[0]])).status_code == 200
    network.settle()
    adapter, client = network.adapters[VARDCENTRAL], network.clients[VARDCENTRAL]
    assert adapter.metric(client, "lus_tidbok_slots_taken_total", KOMMUN) == 1
    assert adapter.metric(client, "lus_dead_letters") == 0
    assert taken_notes(network) == [(kommun[0], late)]
    assert free(network, KOMMUN) == kommun[1:]
    assert free(network, VARDCENTRAL) == []
    moved = rebooking(late, [vardcentral[0], kommun[1]])
    assert network.post(moved).status_code == 200
    network.settle()
    assert free(network, KOMMUN) == [kommun[2]]

    # Makuleringar across adapters: the rebooking's puts the meeting back into the slots its
    # booking named at each adapter (the kommun's 09:00 is still the first meeting's, so the
    # kommun's adapter says so again); the first booking's frees the kommun's 09:00.
    assert network.post(makulering(moved)).status_code == 200
    network.settle()
    assert free(network, KOMMUN) == kommun[1:]
    assert len(taken_notes(network)) == 2
    assert network.post(makulering(first)).status_code == 200
    network.settle()
    assert free(network, KOMMUN) == kommun
    assert free(network, VARDCENTRAL) == []


def taken_notes(network: Any) -> list[tuple[str, str]]:
    """(slot URL, meeting) of each slot-taken note on the vårdcentral's delivered copies to the
    kommun: what the kommun's adapter warned of, which names the slot, the meeting and the case."""
    sent = json.loads(network.adapters[VARDCENTRAL].cli("outbox", "case", CASE, "--format", "json").stdout)
    notes = [m for m in sent if m["recipient"] == KOMMUN and m["last_error"]]
    assert all(m["status"] == "delivered" and CASE in m["last_error"] for m in notes), notes
    found = [re.search(r"Slot (\S+) was .* meeting (\S+) of case", m["last_error"]) for m in notes]
    return [(f.group(1), f.group(2)) for f in found if f]
