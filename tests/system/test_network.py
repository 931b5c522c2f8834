"""The network of three as deployed: three `lus-adapter serve` processes over mutual TLS, each with
its own store and config, and a recording stub of each party's own system (examples/network.py, the
`make network` demo). Both example cases are played, each message posted by its sender's system to
its own adapter; each system must receive exactly what the step table says, once, in order.

One network per store serves every assertion: a message that crossed another on the network (the
kallelse reaches the kommun's adapter before the admission it follows) is retried by its sender's
adapter and applied; a makulering, a kvittens and a reply resolve at every adapter they pass; a
message the kommun's system refuses is a dead letter until `deadletters replay` sends it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.avvikelser_story import hand_report
from tests.support.example_case import AVLIDEN_RECEIVERS, CANONICAL_RECEIVERS
from tests.support.network import net, running_network
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

pytestmark = pytest.mark.slow

CANONICAL, AVLIDEN = "SU-2026-000123", "SU-2026-000124"


STEPS = {case_id: [p.stem for p in paths] for case_id, paths in net.CASES.items()}
EXPECTED = {CANONICAL: CANONICAL_RECEIVERS, AVLIDEN: AVLIDEN_RECEIVERS}


def bundle(case_id: str, step: int) -> dict[str, Any]:
    return dict(json.loads(net.CASES[case_id][step - 1].read_bytes()))


def origin(case_id: str, step: int) -> str:
    return str(net.header(bundle(case_id, step))["id"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], scope="module")
def network(request: pytest.FixtureRequest) -> Iterator[Any]:
    # The hospital's adapter reaches the kommun's through a link the test can cut.
    with running_network(request, "network", "lus_net", links=((SELF, KOMMUN),)) as network:
        yield network


@pytest.fixture(scope="module")
def played(network: Any) -> Any:
    """Both cases played; the kommun's system refuses the avliden case's last message once."""
    link = network.links[(SELF, KOMMUN)]
    canonical = net.CASES[CANONICAL]
    # Steps 1-5 while the hospital → kommun link is down: the vårdcentral's kallelse (5) reaches the
    # kommun's adapter before the admission (1) it follows. The kommun's adapter answers 425; the
    # vårdcentral's adapter tries again; nothing is lost or refused for good.
    link.open.clear()
    for step, path in enumerate(canonical[:5], 1):
        network.play([path], settle=False)
        for receiver in EXPECTED[CANONICAL][step]:
            if receiver != KOMMUN:
                network.wait(lambda r=receiver, s=step: _got(network, r, CANONICAL, s), 30, f"step {step}")
    kommun = network.adapters[KOMMUN]
    network.wait(
        lambda: kommun.metric(network.clients[KOMMUN], "lus_messages_in_total", 'outcome="not-yet"') > 0,
        30,
        "the kommun's adapter to answer the early kallelse 425",
    )
    assert not network.systems[KOMMUN].received  # nothing could apply there yet
    link.open.set()
    network.settle()
    network.play(canonical[5:])

    refused = origin(AVLIDEN, 8)  # the death notice, as the kommun's system will be sent it
    network.systems[KOMMUN].refuse.add(refused)
    network.play(net.CASES[AVLIDEN])
    return network


def resources(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == kind]


def _got(network: Any, receiver: str, case_id: str, step: int) -> bool:
    return any(c == case_id and s == STEPS[case_id][step - 1] for c, s, _, _ in network.received()[receiver])


def test_each_party_system_receives_what_the_step_table_says_once_in_order(
    played: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = "PostgreSQL" if "postgresql" in played.adapters[SELF].database_url else "SQLite"
    # The refused death notice first goes nowhere; replayed from the dead letters, it arrives last.
    kommun = played.adapters[KOMMUN]
    assert played.systems[KOMMUN].refused == [origin(AVLIDEN, 8)]
    assert kommun.metric(played.clients[KOMMUN], "lus_dead_letters") == 1
    played.systems[KOMMUN].refuse.clear()  # the kommun's system takes it now
    replayed = kommun.cli("deadletters", "replay", "--recipient", KOMMUN).stdout.split()
    assert len(replayed) == 1
    played.settle()
    assert kommun.metric(played.clients[KOMMUN], "lus_dead_letters") == 0

    received = played.received()
    report = played.report()
    for party, got in received.items():
        assert played.systems[party].duplicates == 0, party
        for case_id, receivers in EXPECTED.items():
            wanted = [STEPS[case_id][n - 1] for n, who in receivers.items() if party in who]
            steps = [s for c, s, _, _ in got if c == case_id]
            assert sorted(steps) == wanted, (party, case_id, report)  # exactly these, once each
            # In order per sender; in the whole case's order where each step waited for the last
            # (the canonical case's early kallelse crossed the hospital's first messages).
            for sender in net.PARTIES:
                mine = [s for c, s, _, who in got if c == case_id and who == sender]
                assert mine == sorted(mine), (party, case_id, sender, report)
            if case_id == AVLIDEN or party != KOMMUN:
                assert steps == wanted, (party, case_id, report)
    with capsys.disabled():  # the lead quotes it: shown in the test command's own output
        print(f"\nWho received what (network of three, mTLS, {store}):\n{report}")


def test_a_makulering_a_kvittens_and_a_reply_resolve_at_every_adapter(played: Any) -> None:
    """Each system names an earlier message by the id it knows it by; each adapter finds it."""
    copies = {
        party: {(net.case_of(b), net.origin_of(b)): net.header(b)["id"] for b in s.received}
        for party, s in played.systems.items()
    }
    for party in (VARDCENTRAL, KOMMUN):
        # The makulering names, to each receiver, the id under which it got the voided message.
        [voiding] = [b for b in played.systems[party].received if net.origin_of(b) == origin(CANONICAL, 12)]
        [provenance] = [
            e["resource"] for e in voiding["entry"] if e["resource"]["resourceType"] == "Provenance"
        ]
        named = provenance["entity"][0]["what"]["identifier"]["value"]
        assert named == copies[party][(CANONICAL, origin(CANONICAL, 11))] != origin(CANONICAL, 11)
    # Back at the hospital, the kvittens and the reply name its own messages by its own ids.
    got = {net.origin_of(b): b for b in played.systems[SELF].received}
    assert net.header(got[origin(CANONICAL, 10)])["response"]["identifier"] == origin(CANONICAL, 3)
    [note] = [
        e["resource"]
        for e in got[origin(CANONICAL, 9)]["entry"]
        if e["resource"]["resourceType"] == "Communication"
    ]
    assert note["inResponseTo"][0]["identifier"]["value"] == origin(CANONICAL, 8)
    # The kommun's kvittens named the kommun's copy of the planeringsunderlag, as its system got it.
    assert (
        net.header(bundle(CANONICAL, 10))["response"]["identifier"]
        == copies[KOMMUN][(CANONICAL, origin(CANONICAL, 3))]
    )

    for party, adapter in played.adapters.items():
        client = played.clients[party]
        case = client.get(f"{adapter.base}/cases/{CANONICAL}", timeout=10).json()
        # The changed discharge date (11) was made void by the makulering (12) at every adapter.
        assert case["expected_discharge"] == "2026-11-27", party
        timeline = client.get(f"{adapter.base}/cases/{CANONICAL}/timeline", timeout=10).json()
        kvittenser = [
            {k: e[k] for k in ("message_id", "by", "code")}
            for e in timeline["entries"]
            if e["type"] == "kvittens"
        ]
        if party in (SELF, KOMMUN):  # the kvittens passed the kommun's adapter and the hospital's
            assert kvittenser == [{"message_id": origin(CANONICAL, 3), "by": KOMMUN, "code": "ok"}], party
        else:
            assert kvittenser == [], party


def test_a_deviation_reported_by_hand_reaches_the_party_it_concerns(played: Any) -> None:
    """The kommun's system reports at its own adapter, by hand, that the unit discharged the patient
    before the kommun was ready (a meddelande with an avvikelse code naming the unit): routed to
    the hospital's adapter and system only, and listed there by `lus-adapter avvikelser` against
    the unit, as reported by the kommun."""
    report = hand_report()
    assert played.post(report).status_code == 200
    played.settle()
    reported = net.header(report)["id"]
    got = {party: [net.origin_of(b) for b in s.received] for party, s in played.systems.items()}
    assert (reported in got[SELF], reported in got[VARDCENTRAL], reported in got[KOMMUN]) == (
        True,
        False,
        False,
    )
    listed = played.adapters[SELF].cli(
        "avvikelser", "--from", "2026-11", "--to", "2026-11", "--format", "json"
    )
    [by_hand] = [d for d in json.loads(listed.stdout)["deviations"] if d["reported_by"]]
    assert (by_hand["rule"], by_hand["party"], by_hand["reported_by"], by_hand["case_id"]) == (
        "utskriven-innan-kommunen-redo",
        SELF,
        KOMMUN,
        CANONICAL,
    )
