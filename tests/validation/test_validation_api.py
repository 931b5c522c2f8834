"""`POST /fhir/{type}/$validate` and `lus-adapter validate --profile`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.runtime import Runtime
from tests.support.examples import EXAMPLES, load_example
from tests.support.validation_messages import LUS, entry, message

FHIR = {"Content-Type": "application/fhir+json"}
LUS_PATIENT = f"{LUS}/StructureDefinition/lus-patient-inskrivning"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def validate(client: TestClient, path: str, body: Any, **params: str) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(f"/fhir/{path}/$validate", content=content, headers=FHIR, params=params)


def issues(reply: Any) -> list[tuple[str, str, list[str] | None]]:
    return [(i["severity"], i["code"], i.get("expression")) for i in reply.json()["issue"]]


def test_a_valid_message_bundle(client: TestClient) -> None:
    reply = validate(client, "Bundle", load_example("inskrivningsmeddelande.json"))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/fhir+json")
    assert issues(reply) == [("information", "informational", None)]


def test_an_invalid_message_is_200_with_the_error_named(client: TestClient, runtime: Runtime) -> None:
    reply = validate(client, "Bundle", load_example("invalid-inskrivningsmeddelande-personnummer.json"))
    assert reply.status_code == 200
    (issue,) = reply.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[2].resource.identifier[0].value"]
    assert issue["details"]["coding"][0]["code"] == "personnummer"
    with runtime.store.engine.connect() as conn:
        assert runtime.store.inbox_get(conn, "invalid-pnr-0001") is None, "validation stores nothing"


def test_a_resource_against_a_profile_given_as_url_parameter(client: TestClient) -> None:
    patient = entry(message("inskrivningsmeddelande"), "Patient")
    assert issues(validate(client, "Patient", patient, profile=LUS_PATIENT))[0][0] == "information"
    patient.pop("name")
    assert issues(validate(client, "Patient", patient)) == [("information", "informational", None)]
    assert issues(validate(client, "Patient", patient, profile=LUS_PATIENT)) == [
        ("error", "required", ["Patient"])
    ]


def test_a_parameters_body_with_resource_and_profile(client: TestClient) -> None:
    patient = entry(message("inskrivningsmeddelande"), "Patient")
    patient["address"][0]["extension"].pop(1)  # no kommun
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            {"name": "profile", "valueUri": LUS_PATIENT},
        ],
    }
    reply = validate(client, "Patient", body)
    assert reply.status_code == 200
    assert [i["details"]["coding"][0]["code"] for i in reply.json()["issue"]] == ["lus-pat-3"]


@pytest.mark.parametrize(
    ("path", "body", "params", "status"),
    [
        ("Bundle", b'{"resourceType": ', {}, 400),
        ("Patient", {"resourceType": "Encounter"}, {}, 400),
        ("Nothing", {"resourceType": "Nothing"}, {}, 404),
        ("Patient", {"resourceType": "Patient"}, {"profile": "https://example.invalid/x"}, 400),
    ],
    ids=["not-json", "wrong-type", "unknown-type", "unknown-profile"],
)
def test_what_cannot_be_validated_is_4xx(
    client: TestClient, path: str, body: Any, params: dict[str, str], status: int
) -> None:
    reply = validate(client, path, body, **params)
    assert reply.status_code == status
    assert reply.json()["resourceType"] == "OperationOutcome"


def test_wrong_media_type_is_415(client: TestClient) -> None:
    reply = client.post("/fhir/Patient/$validate", content=b"{}", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415


def test_cli_validate_with_a_profile(tmp_path: Path) -> None:
    patient = entry(message("inskrivningsmeddelande"), "Patient")
    good = tmp_path / "patient.json"
    good.write_bytes(orjson.dumps(patient))
    patient.pop("name")
    bad = tmp_path / "nameless.json"
    bad.write_bytes(orjson.dumps(patient))
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", "--profile", LUS_PATIENT, str(good)]).exit_code == 0
    result = runner.invoke(cli, ["validate", "--profile", LUS_PATIENT, "--format", "json", str(bad)])
    assert result.exit_code == 1
    [checked] = orjson.loads(result.stdout)
    assert checked["file"] == str(bad) and checked["valid"] is False
    outcome = checked["outcome"]
    assert outcome["issue"][0]["expression"] == ["Patient"]
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "cardinality-min"
    message_file = str(EXAMPLES / "bundles" / "invalid-inskrivningsmeddelande-admission-time.json")
    assert runner.invoke(cli, ["validate", message_file]).exit_code == 1
