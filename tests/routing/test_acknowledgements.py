"""Kvittens correlated with the sent message and shown on the case; messages without one
reported; the inbound duplicate rules of FHIR reliable messaging; the admin endpoints and the
`deadletters`/`outbox` commands over the same store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import Settings
from adapter.mapping.outbound import outbound_message_id
from adapter.process.events import Kvittens
from adapter.routing.kvittens import record_kvittens
from adapter.runtime import Runtime, build_runtime
from adapter.store import schema
from tests.support.examples import fresh_copy, load_example, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.pipeline import counts
from tests.support.receivers import Receiver, running

CASE = "SU-2026-000123"  # the Encounter identifier of the example


@pytest.fixture
def parties(tmp_path: Path, database_url: str) -> Iterator[tuple[Runtime, Receiver, Receiver]]:
    kommun, vardcentral = Receiver(refuse=set()), Receiver()
    with running(kommun), running(vardcentral):
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
        )
        settings = Settings(database_url=database_url, config_dir=config, worker=False)
        runtime = build_runtime(settings)
        yield runtime, kommun, vardcentral
        runtime.store.engine.dispose()


def accept_and_deliver(runtime: Runtime) -> dict[str, str]:
    """Post the example admission notice and deliver it; the outbound message id per recipient."""
    bundle = fresh_copy(load_example("inskrivningsmeddelande.json"))
    assert runtime.pipeline.process_message(orjson.dumps(bundle)).status == 200
    worker = runtime.delivery_worker()
    while worker.run_once():
        pass
    source = bundle["entry"][0]["resource"]["id"]
    return {party: outbound_message_id(source, party) for party in (KOMMUN, VARDCENTRAL)}


def accept_with_kommun_refusing(runtime: Runtime, kommun: Receiver) -> str:
    """Accept an admission notice whose message to the kommun is refused (a dead letter); its id."""
    bundle = fresh_copy(load_example("inskrivningsmeddelande.json"))
    refused = outbound_message_id(bundle["entry"][0]["resource"]["id"], KOMMUN)
    kommun.refuse.add(refused)
    assert runtime.pipeline.process_message(orjson.dumps(bundle)).status == 200
    runtime.delivery_worker().run_once()
    return refused


def kvittens(acknowledged: str, code: str = "ok", sender: str = KOMMUN) -> Kvittens:
    return Kvittens(
        message_id=f"kvittens-of-{acknowledged}",
        case_id=CASE,
        occurred_at=datetime(2026, 11, 23, 10, 5, tzinfo=UTC),
        sender=sender,
        acknowledged_message_id=acknowledged,
        code=code,
    )


def test_the_receivers_ok_is_delivery_and_the_kvittens_is_recorded_on_the_sent_message(
    parties: tuple[Runtime, Receiver, Receiver],
) -> None:
    runtime, _kommun, _vardcentral = parties
    sent = accept_and_deliver(runtime)
    store, now = runtime.store, runtime.pipeline.clock()
    delivered = {r.recipient: r for r in store.case_messages(CASE)}
    assert {r.status for r in delivered.values()} == {"delivered"}
    assert {r.kvittens_code for r in delivered.values()} == {None}, "a 200 ok is not a kvittens"
    assert {r.message_id for r in store.unacknowledged(0, now)} == set(sent.values())
    assert store.unacknowledged(3600, now) == [], "not reported before the configured time"

    with store.transaction() as conn:
        assert record_kvittens(store, conn, kvittens(sent[KOMMUN]), now)
        assert record_kvittens(store, conn, kvittens(sent[VARDCENTRAL], "fatal-error", VARDCENTRAL), now)
        assert not record_kvittens(store, conn, kvittens("never-sent"), now)

    shown = {r.recipient: r for r in store.case_messages(CASE)}
    assert (shown[KOMMUN].kvittens_code, shown[KOMMUN].kvittens_message_id) == (
        "ok",
        f"kvittens-of-{sent[KOMMUN]}",
    )
    assert shown[KOMMUN].kvittens_at == now
    assert shown[VARDCENTRAL].kvittens_code == "fatal-error"
    [missing] = store.unacknowledged(0, now)
    assert (missing.message_id, missing.kvittens_code) == (sent[VARDCENTRAL], "fatal-error")


def test_the_pipeline_records_a_kvittens_in_the_transaction_that_accepts_it(
    parties: tuple[Runtime, Receiver, Receiver],
) -> None:
    runtime, _kommun, _vardcentral = parties
    sent = accept_and_deliver(runtime)
    # The example case's kvittens, from the kommun, answering the message the kommun was sent.
    ack = fresh_copy(load_example("canonical/10-kvittens.json"))
    ack["entry"][0]["resource"]["response"]["identifier"] = sent[KOMMUN]
    result = runtime.pipeline.process_message(orjson.dumps(ack))
    assert result.status == 200, result.body
    shown = {r.recipient: r.kvittens_code for r in runtime.store.case_messages(CASE)}
    assert shown[KOMMUN] == "ok"


def test_a_resend_under_a_new_bundle_id_is_answered_as_before(runtime: Runtime) -> None:
    first = fresh_copy(load_example("inskrivningsmeddelande.json"))
    answer = runtime.pipeline.process_message(orjson.dumps(first))
    resend = {**first, "id": "a-new-bundle-id"}
    again = runtime.pipeline.process_message(orjson.dumps(resend))
    assert (again.status, again.body, again.duplicate) == (200, answer.body, True)
    assert counts(runtime)["outbox"] == 2


def test_a_bundle_id_seen_before_under_a_new_message_id_is_refused(runtime: Runtime) -> None:
    first = fresh_copy(load_example("inskrivningsmeddelande.json"))
    assert runtime.pipeline.process_message(orjson.dumps(first)).status == 200
    before = counts(runtime)
    other = fresh_copy(first)
    other["id"] = first["id"]
    refused = runtime.pipeline.process_message(orjson.dumps(other))
    assert refused.status == 409
    [issue] = orjson.loads(refused.body)["issue"]
    assert (issue["code"], issue["expression"]) == ("duplicate", ["Bundle.id"])
    assert counts(runtime) == {**before, "audit": before["audit"] + 1}


def test_admin_endpoints_show_the_case_the_missing_kvittens_and_replay_dead_letters(
    parties: tuple[Runtime, Receiver, Receiver],
) -> None:
    runtime, kommun, _vardcentral = parties
    refused = accept_with_kommun_refusing(runtime, kommun)
    with TestClient(create_app(runtime=runtime)) as client:
        case = client.get(f"/admin/cases/{CASE}/messages").json()
        assert {(m["recipient"], m["status"]) for m in case["messages"]} == {
            (KOMMUN, "dead"),
            (VARDCENTRAL, "delivered"),
        }
        missing = client.get("/admin/unacknowledged", params={"older_than": 0}).json()
        assert [m["recipient"] for m in missing["messages"]] == [VARDCENTRAL]
        assert client.get("/admin/unacknowledged").json()["count"] == 0, (
            "default: LUS_KVITTENS_TIMEOUT_SECONDS"
        )

        listed = client.get("/admin/deadletters", params={"recipient": KOMMUN}).json()
        assert [d["message_id"] for d in listed["deadletters"]] == [refused]
        assert listed["deadletters"][0]["dead_at"].endswith("+00:00")
        shown = client.get(f"/admin/deadletters/{refused}").json()
        assert shown["message"]["entry"][0]["resource"]["id"] == refused
        assert shown["last_error"].startswith("HTTP 422")
        assert client.get("/admin/deadletters/nope").status_code == 404

        no_selector = client.post("/admin/deadletters/replay", json={})
        assert no_selector.status_code == 400 and no_selector.json()["resourceType"] == "OperationOutcome"
        bad_time = client.get("/admin/deadletters", params={"since": "yesterday"})
        assert bad_time.status_code == 400
        kommun.refuse.clear()
        replayed = client.post("/admin/deadletters/replay", json={"message_id": refused}).json()
        assert replayed == {"count": 1, "replayed": [refused]}
        assert client.get("/admin/circuits").json() == {"worker": False, "circuits": []}
    runtime.delivery_worker().run_once()
    assert kommun.applied_ids == [refused]


def test_the_deadletters_and_outbox_commands(parties: tuple[Runtime, Receiver, Receiver]) -> None:
    runtime, kommun, _vardcentral = parties
    refused = accept_with_kommun_refusing(runtime, kommun)
    runner = CliRunner()
    env = {"LUS_DATABASE_URL": runtime.settings.database_url}

    listed = runner.invoke(cli, ["deadletters", "list", "--format", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [d["message_id"] for d in orjson.loads(listed.stdout)] == [refused]
    shown = runner.invoke(cli, ["deadletters", "show", refused], env=env)
    assert orjson.loads(shown.stdout)["status"] == "dead"
    assert runner.invoke(cli, ["deadletters", "replay"], env=env).exit_code == 2
    table = runner.invoke(cli, ["outbox", "case", CASE], env={**env, "COLUMNS": "250"})
    assert refused in table.stdout and "dead" in table.stdout and "HTTP 422" in table.stdout
    missing = runner.invoke(
        cli, ["outbox", "unacknowledged", "--older-than", "0", "--format", "json"], env=env
    )
    assert missing.exit_code == 1 and [m["recipient"] for m in orjson.loads(missing.stdout)] == [VARDCENTRAL]

    kommun.refuse.clear()
    replayed = runner.invoke(cli, ["deadletters", "replay", "--recipient", KOMMUN], env=env)
    assert replayed.exit_code == 0 and replayed.stdout.split() == [refused]
    runtime.delivery_worker().run_once()
    assert kommun.applied_ids == [refused]
    with runtime.store.engine.connect() as conn:
        replays = conn.execute(select(func.count()).where(schema.audit.c.action == "replay")).scalar_one()
    assert replays == 1  # the attempt without a selector replayed nothing and is no replay
