"""Who may send which step into which case, in process and in detail (adapter/routing/access.py):
every step from a role the step table does not give it is refused with the rule named, on the case
as it stood before the message; reads follow the same parties. The system test over mTLS is
tests/system/test_case_access.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.app import create_app
from adapter.config import Settings
from adapter.road import Result
from adapter.runtime import Runtime, build_runtime
from adapter.store import schema
from tests.support.case_messages import message, message_id
from tests.support.examples import EXAMPLES, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

OTHER_KOMMUN = "TSTNMT2321000156-K1481"
OTHER_UNIT = "TSTNMT2321000156-SV42"
NOWHERE = "http://127.0.0.1:9/none"
MORE_PARTIES = [
    {
        "hsa_id": OTHER_KOMMUN,
        "name": "Mölndals stad",
        "kind": "K",
        "municipality": "1481",
        "endpoint": NOWHERE,
    },
    {"hsa_id": OTHER_UNIT, "name": "Östra sjukhuset, avd 42", "kind": "SV", "endpoint": NOWHERE},
]
CASE = "SU-2026-200001"


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    config = write_routing(
        tmp_path / "config", dict.fromkeys((SELF, VARDCENTRAL, KOMMUN), NOWHERE), more_parties=MORE_PARTIES
    )
    runtime = build_runtime(Settings(database_url=database_url, config_dir=config, worker=False))
    yield runtime
    runtime.store.engine.dispose()


def send(rt: Runtime, party: str, bundle: dict[str, Any]) -> Result:
    """As the authenticated `party` (the API passes the caller the same way)."""
    return rt.pipeline.process_message(orjson.dumps(bundle), caller=party)


def refusal(result: Result) -> tuple[int, str, str]:
    [issue] = orjson.loads(result.body)["issue"]
    return result.status, issue["details"]["coding"][0]["code"], issue["diagnostics"]


def opened(rt: Runtime) -> dict[str, Any]:
    admission = message("01-inskrivningsmeddelande", CASE)
    assert send(rt, SELF, admission).status == 200
    return admission


# step → (the example, a party of the case whose role may not send it, what the refusal says it is)
WRONG_ROLE = {
    "inskrivningsmeddelande": ("01-inskrivningsmeddelande", KOMMUN, "the patient's kommun"),
    "andrat-utskrivningsdatum": ("11-andrat-utskrivningsdatum", VARDCENTRAL, "the patient's vårdcentral"),
    "fast-vardkontakt-utsedd": ("02-fast-vardkontakt-utsedd", KOMMUN, "the patient's kommun"),
    "utskrivningsklar": ("04-utskrivningsklar", VARDCENTRAL, "the patient's vårdcentral"),
    "kallelse-sip": ("05-kallelse-sip", SELF, "the case's slutenvård unit"),
    "utskrivningsmeddelande": ("13-utskrivningsmeddelande", KOMMUN, "the patient's kommun"),
}


@pytest.mark.parametrize("step", sorted(WRONG_ROLE))
def test_a_step_from_a_role_the_table_does_not_give_it_is_refused(rt: Runtime, step: str) -> None:
    opened(rt)
    example, sender, position = WRONG_ROLE[step]
    status, rule, text = refusal(send(rt, sender, message(example, CASE, sender)))
    assert (status, rule) == (403, "step-sender")
    assert text.startswith(f"{step} may be sent by ") and "(lus-steps.yaml: senders [" in text
    assert text.endswith(f"{sender} is {position}.")
    with rt.store.reading() as conn:
        case = rt.store.load_case(conn, CASE)
    assert case is not None and len(case.events) == 1


def test_the_payment_clock_starts_only_from_the_unit(rt: Runtime) -> None:
    opened(rt)
    assert send(rt, VARDCENTRAL, message("04-utskrivningsklar", CASE, VARDCENTRAL)).status == 403
    with rt.store.reading() as conn:
        case = rt.store.load_case(conn, CASE)
    assert case is not None and case.utskrivningsklar_at is None and case.ready_periods == ()
    assert send(rt, SELF, message("04-utskrivningsklar", CASE)).status == 200


def test_makulering_only_from_the_sender_and_kvittens_only_from_a_receiver(rt: Runtime) -> None:
    admission = opened(rt)
    voided = message_id(admission)
    for party in (KOMMUN, VARDCENTRAL):
        status, rule, text = refusal(send(rt, party, message("12-makulering", CASE, party, voids=voided)))
        assert (status, rule) == (403, "step-sender")
        assert "may be sent by the sender of the voided message" in text
    status, rule, text = refusal(send(rt, SELF, message("10-kvittens", CASE, SELF, acknowledges=voided)))
    assert (status, rule) == (403, "step-sender")
    assert text.endswith(f"{SELF} is the case's slutenvård unit and the sender of the acknowledged message.")
    # a kvittens of a message that is not the case's: nothing to be a receiver of
    status, rule, _ = refusal(send(rt, KOMMUN, message("10-kvittens", CASE, KOMMUN, acknowledges="no-such")))
    assert (status, rule) == (422, "not-found")
    # each from its own role: the kommun received the admission (by its origin id or its copy's)
    assert send(rt, KOMMUN, message("10-kvittens", CASE, KOMMUN, acknowledges=voided)).status == 200
    assert send(rt, SELF, message("12-makulering", CASE, voids=voided)).status == 200


def test_a_party_outside_the_case_is_refused_before_anything_else(rt: Runtime) -> None:
    opened(rt)
    # even a step any party may send, even naming itself as the destination, even another patient
    note = message("08-meddelande", CASE, OTHER_KOMMUN, patient="195009072553")
    note["entry"][0]["resource"]["destination"] = [
        {
            "endpoint": NOWHERE,
            "receiver": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": OTHER_KOMMUN}},
        }
    ]
    status, rule, text = refusal(send(rt, OTHER_KOMMUN, note))
    assert (status, rule) == (403, "case-party")
    assert "195009072553" not in text and "19…53" not in text  # says nothing about the case
    # nor told to send its copy again later when what it names has not arrived (as an adapter is)
    copy = message("10-kvittens", CASE, OTHER_KOMMUN, acknowledges="not-arrived-yet")
    origin = {"url": rt.mapper.extensions["origin-message"], "valueId": "an-origin-id"}
    copy["entry"][0]["resource"]["extension"] = [origin]
    assert refusal(send(rt, OTHER_KOMMUN, copy))[:2] == (403, "case-party")
    # another hospital unit may not take the case over with an admission notice of its own
    status, rule, _ = refusal(send(rt, OTHER_UNIT, message("01-inskrivningsmeddelande", CASE, OTHER_UNIT)))
    assert (status, rule) == (403, "case-party")


def test_a_party_a_message_names_becomes_a_party_of_the_case(rt: Runtime) -> None:
    opened(rt)
    note = message("08-meddelande", CASE)
    note["entry"][0]["resource"]["destination"] = [
        {
            "endpoint": NOWHERE,
            "receiver": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": OTHER_KOMMUN}},
        }
    ]
    assert send(rt, SELF, note).status == 200
    assert send(rt, OTHER_KOMMUN, message("03-planeringsunderlag", CASE, OTHER_KOMMUN)).status == 200


def test_a_case_is_opened_only_by_a_slutenvard_unit_in_its_own_name(rt: Runtime) -> None:
    status, rule, text = refusal(send(rt, KOMMUN, message("01-inskrivningsmeddelande", CASE, KOMMUN)))
    assert (status, rule) == (403, "step-sender")
    assert f"{KOMMUN} is not a slutenvård party" in text
    # a unit that names another unit as the admitting one
    status, rule, _ = refusal(send(rt, OTHER_UNIT, message("01-inskrivningsmeddelande", CASE, OTHER_UNIT)))
    assert (status, rule) == (403, "step-sender")
    with rt.store.reading() as conn:
        assert rt.store.load_case(conn, CASE) is None


def test_reads_follow_the_same_parties_and_the_admin_role_reads_all(rt: Runtime) -> None:
    opened(rt)
    with TestClient(create_app(runtime=rt)) as client:

        def status(party: str | None, path: str) -> int:
            headers = {"X-LUS-Party": party} if party else {}  # development mode: no header is admin
            return client.get(path, headers=headers).status_code

        for path in (f"/cases/{CASE}", f"/cases/{CASE}/timeline", f"/dashboard/arenden/{CASE}"):
            assert [status(p, path) for p in (None, SELF, KOMMUN, VARDCENTRAL)] == [200] * 4, path
            assert [status(p, path) for p in (OTHER_KOMMUN, OTHER_UNIT)] == [404] * 2, path
        encounter = client.get(f"/fhir/Encounter?identifier={CASE}").json()["entry"][0]["resource"]
        read = f"/fhir/Encounter/{encounter['id']}"
        assert (status(KOMMUN, read), status(OTHER_KOMMUN, read)) == (200, 404)
        with rt.store.engine.connect() as conn:
            a = schema.audit.c
            refused = conn.execute(
                select(a.action, a.case_id, a.patient_hash).where(
                    a.party == OTHER_KOMMUN, a.outcome == "denied"
                )
            ).all()
        # every refused read audited: the case's pages, and the FHIR read of its Encounter
        assert [r.action for r in refused] == ["read-case", "read-timeline", "read-case", "fhir-read"]
        assert {r.case_id for r in refused} == {CASE} and all(r.patient_hash for r in refused)
        found = client.get("/fhir/Patient", headers={"X-LUS-Party": OTHER_KOMMUN}).json()
        assert found["total"] == 0


def test_a_dialect_translation_reads_no_case_its_sender_is_no_party_of(
    tmp_path: Path, database_url: str
) -> None:
    """A vendor's transaction is translated by the state of its case: a party outside the case is
    translated as if the case did not exist, and refused as a non-party."""
    sends_transactions = {**MORE_PARTIES[0], "dialect": {"inbound": "transaction", "outbound": "canonical"}}
    config = write_routing(
        tmp_path / "config",
        dict.fromkeys((SELF, VARDCENTRAL, KOMMUN), NOWHERE),
        more_parties=[sends_transactions, MORE_PARTIES[1]],
    )
    rt = build_runtime(Settings(database_url=database_url, config_dir=config, worker=False))
    try:
        assert send(rt, SELF, message("01-inskrivningsmeddelande", "SU-2026-000123")).status == 200
        path = EXAMPLES / "bundles" / "transaction" / "06-utskrivningsmeddelande.json"
        discharge = orjson.loads(path.read_bytes())
        elsewhere = orjson.loads(path.read_bytes().replace(b"SU-2026-000123", b"SU-2026-999999"))
        elsewhere["id"] = "0f0e0d0c-0b0a-4909-8807-060504030201"
        elsewhere["identifier"]["value"] = f"urn:uuid:{elsewhere['id']}"
        here, nowhere = send(rt, OTHER_KOMMUN, discharge), send(rt, OTHER_KOMMUN, elsewhere)
        # answered as for a case that does not exist: nothing about the case's state leaks
        assert here.status == nowhere.status == 422, here.body
        assert refusal(here)[2] == refusal(nowhere)[2]
        with rt.store.reading() as conn:
            case = rt.store.load_case(conn, "SU-2026-000123")
        assert case is not None and case.state.value == "inskriven" and len(case.events) == 1
    finally:
        rt.store.engine.dispose()
