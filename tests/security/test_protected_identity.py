"""A patient with sekretessmarkering: name and address reach only the parties configured to need
them (the kommun, for hemtjänst at home), never the others and never a log line."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.app import create_app
from adapter.runtime import Runtime
from adapter.security.protected import DATA_ABSENT_REASON
from adapter.store import schema
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.protected import PROTECTED_PNR, protected_message

DETAILS = ("Tolvansson", "Tolvan", "Tolvmansgatan", "41212")


def outbound(runtime: Runtime) -> dict[str, bytes]:
    with runtime.store.engine.connect() as conn:
        return {
            r.recipient: r.body for r in conn.execute(select(schema.outbox.c.recipient, schema.outbox.c.body))
        }


def patient_of(body: bytes) -> dict[str, Any]:
    message = orjson.loads(body)
    found: dict[str, Any] = next(
        e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return found


@pytest.mark.parametrize("code", ["R", "V"])
def test_name_and_address_go_only_to_parties_that_need_them(
    runtime: Runtime, code: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert runtime.routing.party(KOMMUN).sees_protected_details  # type: ignore[union-attr]
    result = runtime.pipeline.process_message(orjson.dumps(protected_message(code)))
    assert result.status == 200, result.body
    bodies = outbound(runtime)

    withheld = patient_of(bodies[VARDCENTRAL])
    assert withheld["name"] == [{"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}]
    assert withheld["meta"]["security"][0]["code"] == "R"
    assert [set(a) for a in withheld["address"]] == [{"extension"}], "only the kind and the kommun code"
    assert not [d for d in DETAILS if d.encode() in bodies[VARDCENTRAL]]
    assert runtime.validator.validate_message(orjson.loads(bodies[VARDCENTRAL])) == []

    shown = patient_of(bodies[KOMMUN])
    assert shown["meta"]["security"][0]["code"] == "R"
    assert shown["name"][0]["family"] == "Tolvansson" and shown["address"][0]["line"] == ["Tolvmansgatan 12"]

    logged = capfd.readouterr()
    assert not [d for d in (*DETAILS, PROTECTED_PNR) if d in logged.out + logged.err]


def test_a_patient_without_sekretessmarkering_is_sent_in_full(runtime: Runtime) -> None:
    assert runtime.pipeline.process_message(orjson.dumps(protected_message(None))).status == 200
    patient = patient_of(outbound(runtime)[VARDCENTRAL])
    assert patient["name"][0]["family"] == "Tolvansson" and "meta" not in patient


def test_fhir_reads_withhold_them_from_the_same_parties(runtime: Runtime) -> None:
    assert runtime.pipeline.process_message(orjson.dumps(protected_message("R"))).status == 200
    with TestClient(create_app(runtime=runtime)) as client:

        def patients(party: str) -> list[dict[str, Any]]:
            reply = client.get("/fhir/Patient", headers={"X-LUS-Party": party})
            assert reply.status_code == 200, reply.text
            return [e["resource"] for e in reply.json()["entry"]]

        for_vardcentral = patients(VARDCENTRAL)
        assert len(for_vardcentral) == 1 and "family" not in for_vardcentral[0]["name"][0]
        assert not [d for d in DETAILS if d in orjson.dumps(for_vardcentral).decode()]
        assert patients(KOMMUN)[0]["name"][0]["family"] == "Tolvansson"
        assert patients(SELF)[0]["name"][0]["family"] == "Tolvansson"
