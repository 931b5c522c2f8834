"""The joint sign-off across adapters as deployed (docs/signoff.md): the network of three
(examples/network.py: three `lus-adapter serve` processes over mutual TLS, SQLite or PostgreSQL).
With the region's waiting rule off, the unit's utskrivningsmeddelande passes without approvals. With
it on at the unit's adapter, the utskrivningsmeddelande is refused (409, naming the parties that
have not approved) until the kommun and the vårdcentral have approved the ställningstagande; each
adapter's case then shows who approved."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import EXAMPLES
from tests.support.network import running_network
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

pytestmark = pytest.mark.slow

STEPS = sorted((EXAMPLES / "bundles" / "canonical-signoff").glob("*.json"))
EXAMPLE_CASE = "SU-2026-000300"
IDS = [
    key
    for path in STEPS
    for key in (
        json.loads(path.read_bytes())["id"],
        json.loads(path.read_bytes())["entry"][0]["resource"]["id"],
    )
]


def retold(step: int, case_id: str) -> dict[str, Any]:
    """Example step `step` (1-based) about `case_id`, under ids of that case (a ställningstagande
    and the answers to it keep naming each other)."""
    text = STEPS[step - 1].read_text(encoding="utf-8").replace(EXAMPLE_CASE, case_id)
    for old in IDS:
        text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case_id}/{old}")))
    return dict(json.loads(text))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], scope="module")
def network(request: pytest.FixtureRequest) -> Iterator[Any]:
    with running_network(request, "signoff", "lus_signoff") as network:
        yield network


def post(network: Any, case_id: str, step: int) -> tuple[int, dict[str, Any]]:
    reply = network.post(retold(step, case_id))
    return reply.status_code, reply.json()


def accepted(network: Any, case_id: str, *steps: int) -> None:
    for step in steps:
        status, body = post(network, case_id, step)
        assert status == 200, (step, body)
        network.settle()


def received(network: Any, party: str, case_id: str) -> list[str]:
    return [kind for c, _, kind, _ in network.received()[party] if c == case_id]


def case_view(network: Any, party: str, case_id: str) -> dict[str, Any]:
    reply = network.clients[party].get(f"{network.adapters[party].base}/cases/{case_id}", timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def waits_for_approval(network: Any, on: bool) -> None:
    """The unit's adapter restarted with the region's waiting rule set `on`."""
    unit = network.adapters[SELF]
    rules = Path(unit.folder) / "config" / "lus-rules.yaml"
    text = rules.read_text(encoding="utf-8")
    flag = "utskrivningsmeddelande_waits_for_approval:"
    rules.write_text(text.replace(f"{flag} {str(not on).lower()}", f"{flag} {str(on).lower()}"), "utf-8")
    unit.stop(grace=3)
    unit.start()
    network.wait(lambda: unit.ready(network.clients[SELF]), 90, "the unit's adapter to restart")


def test_the_discharge_waits_for_every_approval_only_where_the_region_says_so(network: Any) -> None:
    # The rule off (the example rules): no approval needed.
    loose = "SU-2026-000301"
    accepted(network, loose, 1, 3, 10)  # admission, ställningstagande, discharge
    for party in (VARDCENTRAL, KOMMUN):
        assert received(network, party, loose) == [
            "inskrivningsmeddelande",
            "stallningstagande",
            "utskrivningsmeddelande",
        ]
    assert case_view(network, KOMMUN, loose)["signoff"]["approved_by"] == []

    waits_for_approval(network, True)
    strict = "SU-2026-000302"
    accepted(network, strict, 1)
    status, body = post(network, strict, 10)
    assert status == 409, body
    [issue] = body["issue"]
    assert issue["code"] == "conflict" and issue["details"]["coding"][0]["code"] == "approval-missing"
    assert issue["diagnostics"].endswith(f"not approved by: {KOMMUN}, {VARDCENTRAL}.")
    accepted(network, strict, 3, 4, 5)  # ställningstagande; the kommun comments, the vårdcentral approves
    status, body = post(network, strict, 10)
    assert status == 409 and body["issue"][0]["diagnostics"].endswith(f"not approved by: {KOMMUN}."), body
    accepted(network, strict, 6, 7, 8)  # revised; both approve it
    accepted(network, strict, 10)
    for party in (VARDCENTRAL, KOMMUN):
        assert received(network, party, strict)[-1] == "utskrivningsmeddelande"
    # Each adapter's case shows who approved: the unit's, and the kommun's (sent the vårdcentral's
    # answer as the ställningstagande's other receiver).
    for party in (SELF, KOMMUN, VARDCENTRAL):
        signoff = case_view(network, party, strict)["signoff"]
        assert signoff["approved_by"] == sorted((KOMMUN, VARDCENTRAL)), (party, signoff)
        assert signoff["not_approved_by"] == []
    waits_for_approval(network, False)
