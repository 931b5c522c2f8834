"""The joint sign-off and the SIP / dokumenterad överenskommelse steps (docs/signoff.md), in
process: examples/bundles/canonical-signoff/ replayed through the real Pipeline, the case it leaves
and whom each step reached; the region's waiting rule off and on (409 naming who has not approved);
a step from a role the step table does not give it (403); the case view that shows who approved.
The same over mTLS between adapters: tests/system/test_signoff_network.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.config import Settings
from adapter.fhir.bundle import BundleIndex
from adapter.mapping.dialects import case_state
from adapter.mapping.outbound import Addressing
from adapter.process.case import CaseRejected, DischargeCase, SipStatus
from adapter.process.events import Godkannande, Stallningstagande
from adapter.road.validate import Validate
from adapter.runtime import Runtime, build_runtime
from tests.support.example_case import case_and_outbox, kind, play_steps
from tests.support.examples import EXAMPLES, fresh_copy, write_routing
from tests.support.lus_story import Story
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

STEPS = sorted((EXAMPLES / "bundles" / "canonical-signoff").glob("*.json"))
CASE = "SU-2026-000300"
CET = timezone(timedelta(hours=1))
NOWHERE = "http://127.0.0.1:9/none"

# Who receives each step of the example by the step table: step → receivers.
RECEIVERS: dict[int, tuple[str, ...]] = {
    1: (VARDCENTRAL, KOMMUN),
    2: (SELF, KOMMUN),  # sip-upprattad from the vårdcentral: the case's others
    3: (VARDCENTRAL, KOMMUN),  # ställningstagande: the parties that approve it
    4: (SELF, VARDCENTRAL),  # godkännande from the kommun: the unit and the other approver
    5: (SELF, KOMMUN),
    6: (VARDCENTRAL, KOMMUN),
    7: (SELF, KOMMUN),
    8: (SELF, VARDCENTRAL),
    9: (SELF, KOMMUN),
    10: (VARDCENTRAL, KOMMUN),
    11: (SELF, KOMMUN),
    12: (SELF, VARDCENTRAL),  # sip-avslutad from the kommun
}


def step(n: int) -> dict[str, Any]:
    return dict(orjson.loads(STEPS[n - 1].read_bytes()))


@pytest.fixture
def waiting(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """An adapter of a region whose utskrivningsmeddelande waits for every approval."""
    config = tmp_path / "config"
    config.mkdir()
    rules = (EXAMPLES / "config" / "lus-rules.yaml").read_text(encoding="utf-8")
    (config / "lus-rules.yaml").write_text(
        rules.replace(
            "utskrivningsmeddelande_waits_for_approval: false",
            "utskrivningsmeddelande_waits_for_approval: true",
        ),
        encoding="utf-8",
    )
    write_routing(config, dict.fromkeys((SELF, VARDCENTRAL, KOMMUN), NOWHERE))
    runtime = build_runtime(Settings(database_url=database_url, config_dir=config, worker=False))
    yield runtime
    runtime.store.engine.dispose()


def send(rt: Runtime, bundle: dict[str, Any], caller: str | None = None) -> tuple[int, dict[str, Any]]:
    result = rt.pipeline.process_message(orjson.dumps(bundle), caller=caller)
    return result.status, orjson.loads(result.body)


def test_the_signoff_example_replays_to_an_approved_discharge_and_an_ended_sip(runtime: Runtime) -> None:
    assert [kind(p) for p in STEPS] == [
        "inskrivningsmeddelande",
        "sip-upprattad",
        "stallningstagande",
        "godkannande",
        "godkannande",
        "stallningstagande",
        "godkannande",
        "godkannande",
        "dokumenterad-overenskommelse",
        "utskrivningsmeddelande",
        "sip-uppfoljd",
        "sip-avslutad",
    ]
    play_steps(runtime, STEPS)
    case, rows = case_and_outbox(runtime, CASE)
    assert case is not None and case.signoff is not None
    # The revised ställningstagande reset the answers: only the two to it count.
    assert case.signoff.stallningstagande == step(6)["entry"][0]["resource"]["id"]
    assert [(a.party, a.approved, a.comment) for a in case.signoff.answers] == [
        (VARDCENTRAL, True, None),
        (KOMMUN, True, "Hemtjänsten börjar 28 november kl 08."),
    ]
    assert case.signoff.approved_by() == {VARDCENTRAL, KOMMUN}
    assert case.sip is SipStatus.AVSLUTAD
    assert case.overenskommelse_at == datetime(2026, 11, 26, 9, 0, tzinfo=CET)
    expected = [(r, kind(STEPS[n - 1])) for n, receivers in RECEIVERS.items() for r in receivers]
    assert sorted((r.recipient, r.kind) for r in rows) == sorted(expected)
    for row in rows:
        assert [i for i in runtime.validator.validate_message(orjson.loads(row.body)) if i.blocking] == []


def test_a_comment_is_no_approval_until_the_same_party_approves_after_it() -> None:
    at = datetime(2026, 11, 25, 9, 0, tzinfo=CET)
    story = Story("2026-11-23 08:00")
    base = {"case_id": "case-1", "sender": SELF}
    case = story.case().apply(Stallningstagande(message_id="s1", occurred_at=at, text="Klar 27/11", **base))

    def answer(message_id: str, party: str, approved: bool, minutes: int, about: str = "s1") -> Godkannande:
        return Godkannande(
            message_id=message_id,
            case_id="case-1",
            occurred_at=at + timedelta(minutes=minutes),
            sender=party,
            stallningstagande=about,
            approved=approved,
            comment=None if approved else "Hemtjänsten är inte klar",
        )

    case = case.apply(answer("g1", KOMMUN, True, 1)).apply(answer("g2", KOMMUN, False, 2))
    assert case.signoff is not None and case.signoff.approved_by() == set()  # the comment withdrew it
    case = case.apply(answer("g3", KOMMUN, True, 3))
    assert case.signoff is not None and case.signoff.approved_by() == {KOMMUN}
    revised = case.apply(
        Stallningstagande(message_id="s2", occurred_at=at + timedelta(hours=1), text="Klar", **base)
    )
    assert revised.signoff is not None and revised.signoff.answers == ()
    with pytest.raises(CaseRejected, match="replaced by s2"):
        revised.apply(answer("g4", VARDCENTRAL, True, 61, about="s1"))
    with pytest.raises(CaseRejected) as no_such:
        revised.apply(answer("g5", VARDCENTRAL, True, 61, about="nothing"))
    assert no_such.value.code == "not-found"


def test_a_planeringsunderlag_carrying_a_sip_still_shows_the_sip(runtime: Runtime) -> None:
    plan = fresh_copy(
        dict(orjson.loads((EXAMPLES / "bundles" / "canonical" / "03-planeringsunderlag.json").read_bytes()))
    )
    careplan = next(e["resource"] for e in plan["entry"] if e["resource"]["resourceType"] == "CarePlan")
    careplan["category"][0]["coding"][0]["code"] = "SIP"
    play_steps(runtime, STEPS[:1])
    for entry in plan["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["identifier"][0]["value"] = CASE
    status, body = send(runtime, plan)
    assert status == 200, body
    case, _ = case_and_outbox(runtime, CASE)
    assert case is not None and case.sip is SipStatus.UPPRATTAD and case.overenskommelse_at is None


def test_without_the_waiting_rule_the_discharge_needs_no_approval(runtime: Runtime) -> None:
    assert runtime.pipeline.discharge_waits_for_approval is False
    play_steps(runtime, [STEPS[0], STEPS[2], STEPS[9]])  # admission, ställningstagande, discharge
    case, _ = case_and_outbox(runtime, CASE)
    assert case is not None and case.discharged_at is not None


def test_with_the_waiting_rule_the_discharge_is_refused_until_both_approve(waiting: Runtime) -> None:
    discharge = step(10)
    play_steps(waiting, STEPS[:1])
    status, body = send(waiting, discharge)
    assert status == 409
    [issue] = body["issue"]
    assert issue["code"] == "conflict" and issue["details"]["coding"][0]["code"] == "approval-missing"
    assert f"not approved by: {KOMMUN}, {VARDCENTRAL}" in issue["diagnostics"]
    assert "none has been sent" in issue["diagnostics"]
    play_steps(waiting, STEPS[2:5])  # ställningstagande; the kommun comments, the vårdcentral approves
    status, body = send(waiting, fresh_copy(discharge))
    assert status == 409 and body["issue"][0]["diagnostics"].endswith(f"not approved by: {KOMMUN}.")
    play_steps(waiting, STEPS[5:6])  # revised: both must answer again
    status, body = send(waiting, fresh_copy(discharge))
    assert status == 409 and f"{KOMMUN}, {VARDCENTRAL}." in body["issue"][0]["diagnostics"]
    play_steps(waiting, STEPS[6:8])
    status, body = send(waiting, fresh_copy(discharge))
    assert status == 200, body
    case, _ = case_and_outbox(waiting, CASE)
    assert case is not None and case.discharged_at == datetime(2026, 11, 28, 11, 0, tzinfo=CET)


# step → (an example of it, a party of the case whose role may not send it)
WRONG_ROLE = {
    "stallningstagande": (3, KOMMUN),
    "godkannande": (5, SELF),  # the unit sent the ställningstagande: it does not approve its own
    "sip-upprattad": (2, SELF),
    "sip-uppfoljd": (11, SELF),
    "sip-avslutad": (12, SELF),
    "dokumenterad-overenskommelse": (9, SELF),
}


def sent_by(bundle: dict[str, Any], hsa_id: str) -> dict[str, Any]:
    """The message with another party named as its sender (a new Organization entry)."""
    url = "urn:uuid:00000000-0000-4000-8000-0000000000aa"
    organization = {
        "resourceType": "Organization",
        "identifier": [{**_hsa(bundle), "value": hsa_id}],
    }
    bundle["entry"].append({"fullUrl": url, "resource": organization})
    bundle["entry"][0]["resource"]["sender"] = {"reference": url}
    return bundle


def _hsa(bundle: dict[str, Any]) -> dict[str, Any]:
    """The sender's HSA-id identifier, to copy."""
    url = bundle["entry"][0]["resource"]["sender"]["reference"]
    return dict(next(e for e in bundle["entry"] if e["fullUrl"] == url)["resource"]["identifier"][0])


@pytest.mark.parametrize("kind_", sorted(WRONG_ROLE))
def test_a_step_from_a_role_the_table_does_not_give_it_is_refused(runtime: Runtime, kind_: str) -> None:
    n, sender = WRONG_ROLE[kind_]
    play_steps(runtime, STEPS[: n - 1])
    status, body = send(runtime, sent_by(step(n), sender), caller=sender)
    assert status == 403, body
    assert body["issue"][0]["details"]["coding"][0]["code"] == "step-sender"
    assert body["issue"][0]["diagnostics"].startswith(f"{kind_} may be sent by ")


def test_the_case_view_and_the_fhir_read_side_show_who_approved(runtime: Runtime) -> None:
    play_steps(runtime, STEPS[:5])
    with TestClient(create_app(runtime=runtime)) as client:
        found = client.get(f"/cases/{CASE}")
        assert found.status_code == 200, found.text
        view = found.json()
        assert view["signoff"]["approved_by"] == [VARDCENTRAL]
        assert view["signoff"]["not_approved_by"] == [KOMMUN]
        assert [(a["party"], a["approved"], a["comment"]) for a in view["signoff"]["answers"]] == [
            (KOMMUN, False, "Hemtjänsten kan börja först 28 november."),
            (VARDCENTRAL, True, None),
        ]
        assert view["sip"] == "upprattad" and view["overenskommelse_at"] is None
        page = client.get(f"/dashboard/arenden/{CASE}")
        assert page.status_code == 200
        assert "Inte godkänt av" in page.text and "Hemtjänsten kan börja först 28 november." in page.text
        tasks = client.get("/fhir/Task").json()
        answers = sorted(
            (
                e["resource"]["businessStatus"]["coding"][0]["code"],
                e["resource"].get("note", [{}])[0].get("text"),
            )
            for e in tasks["entry"]
        )
        assert answers == [("approved", None), ("commented", "Hemtjänsten kan börja först 28 november.")]
        [impression] = [e["resource"] for e in client.get("/fhir/ClinicalImpression").json()["entry"]]
        assert impression["summary"] == "Utskrivningsklar 27 november när hemtjänsten är på plats."


@pytest.mark.parametrize("form", ["transaction", "communication"])
def test_each_new_step_goes_through_each_dialect_and_back(runtime: Runtime, form: str) -> None:
    """Canonical → the dialect a recipient takes (valid against its profile) → canonical → the same
    event. The transaction form infers the ställningstagande and the godkännande from their
    resources; the SIP and the överenskommelse travel in it as a planeringsunderlag does."""
    dialects = runtime.pipeline.dialects
    assert dialects is not None
    dialect = dialects.get(form)
    assert dialect is not None
    to = Addressing(KOMMUN, NOWHERE, NOWHERE, "test")
    opening, _ = runtime.mapper.to_event("canonical", BundleIndex(step(1)))
    case = DischargeCase.open(opening)
    steps = (3, 4) if form == "transaction" else (2, 3, 4, 9, 11, 12)
    for n in steps:
        event, _ = runtime.mapper.to_event("canonical", BundleIndex(step(n)))
        sent = dialects.from_canonical(form, runtime.mapper.to_bundle(event, to, case))
        assert Validate(runtime.validator, dialects).dialect_form(dialect, sent) == [], n
        back = dialects.to_canonical(dialect, sent, event.sender, case_state(case))
        again, warnings = runtime.mapper.to_event("canonical", BundleIndex(back.bundle))
        assert (again.kind, warnings) == (event.kind, []), n
        assert replace(again, message_id=event.message_id, sender=event.sender) == event, n
        case = case.apply(event)
