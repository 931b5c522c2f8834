"""The audit trail: every message received, every read and every refusal is a record, found by
patient for PDL log review (`lus-adapter audit --patient`), which holds no identifier in clear and
which no endpoint can change."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import DEVELOPMENT_AUDIT_KEY, Settings
from adapter.runtime import Runtime
from adapter.security.audit import audit_key
from adapter.store import schema
from tests.support.examples import load_example
from tests.support.holdings_seed import EXAMPLE_CASE
from tests.support.parties import KOMMUN, SELF

FHIR = {"Content-Type": "application/fhir+json"}
PATIENT = "191212121212"  # Tolvan Tolvansson, the example's patient
OTHER_PATIENT = "195009072553"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def review(runtime: Runtime, *args: str) -> list[dict[str, object]]:
    env = {"LUS_DATABASE_URL": runtime.settings.database_url, "LUS_AUDIT_KEY": runtime.settings.audit_key}
    result = CliRunner().invoke(cli, ["audit", *args, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    records: list[dict[str, object]] = orjson.loads(result.stdout)
    return records


def test_pdl_log_review_finds_who_sent_and_read_a_patients_case(client: TestClient, runtime: Runtime) -> None:
    body = orjson.dumps(load_example("inskrivningsmeddelande.json"))
    assert client.post("/fhir/$process-message", content=body, headers=FHIR).status_code == 200
    as_kommun = {"X-LUS-Party": KOMMUN}
    assert client.get(f"/cases/{EXAMPLE_CASE}", headers=as_kommun).status_code == 200
    assert client.get(f"/cases/{EXAMPLE_CASE}/timeline", headers=as_kommun).status_code == 200
    unknown = client.get(f"/cases/{EXAMPLE_CASE}", headers={"X-LUS-Party": "TSTNMT2321000156-X"})
    assert unknown.status_code == 403

    trail = review(runtime, "--patient", PATIENT)
    assert [(r["party"], r["action"], r["outcome"], r["case_id"]) for r in trail] == [
        (SELF, "receive", "accepted", EXAMPLE_CASE),
        (KOMMUN, "read-case", "ok", EXAMPLE_CASE),
        (KOMMUN, "read-timeline", "ok", EXAMPLE_CASE),
    ]
    assert review(runtime, "--patient", OTHER_PATIENT) == []
    denied = review(runtime, "--party", "TSTNMT2321000156-X")
    assert [(r["action"], r["outcome"]) for r in denied] == [("authorize", "denied")]
    assert review(runtime, "--since", "2999-01-01") == []

    with runtime.store.engine.connect() as conn:
        stored = orjson.dumps([tuple(r) for r in conn.execute(select(schema.audit)).all()])
    assert PATIENT.encode() not in stored, "the audit log holds identifiers only as a keyed hash"


def test_no_endpoint_changes_the_audit_log(client: TestClient) -> None:
    operations = {
        (path, method)
        for path, item in client.app.openapi()["paths"].items()
        for method in item  # type: ignore[attr-defined]
    }
    # Only the tidbok's own resources are replaced by PUT (docs/tidbok.md); nothing is deleted.
    changing = {(p, m) for p, m in operations if m in ("put", "patch", "delete")}
    assert changing == {("/fhir/Schedule/{resource_id}", "put"), ("/fhir/Slot/{resource_id}", "put")}
    assert not [p for p, _m in operations if "audit" in p]


def test_the_published_audit_key_serves_only_development() -> None:
    assert audit_key(Settings(auth_mode="development")) == DEVELOPMENT_AUDIT_KEY.encode()
    with pytest.raises(ValueError, match="LUS_AUDIT_KEY"):
        audit_key(Settings(auth_mode="jwt"))
    secret = "a-secret-of-32-bytes-or-more-...."
    assert audit_key(Settings(auth_mode="mtls", audit_key=secret)) == secret.encode()


def test_the_audit_command_refuses_the_published_key_outside_development(runtime: Runtime) -> None:
    env = {
        "LUS_DATABASE_URL": runtime.settings.database_url,
        "LUS_AUTH_MODE": "mtls",
        "LUS_AUDIT_KEY": DEVELOPMENT_AUDIT_KEY,
    }
    result = CliRunner().invoke(cli, ["audit", "--patient", PATIENT], env=env)
    assert result.exit_code == 2
    assert "LUS_AUDIT_KEY" in result.output


def test_the_database_refuses_to_change_or_delete_an_audit_record(runtime: Runtime) -> None:
    runtime.store.audit(None, party=KOMMUN, action="read-case", outcome="ok", case_id="c-1")
    for change in (update(schema.audit).values(outcome="denied"), delete(schema.audit)):
        with pytest.raises(DBAPIError, match="append-only"), runtime.store.engine.begin() as conn:
            conn.execute(change)
    with runtime.store.engine.connect() as conn:
        rows = conn.execute(select(schema.audit.c.party, schema.audit.c.outcome)).all()
    assert [tuple(r) for r in rows] == [(KOMMUN, "ok")]
