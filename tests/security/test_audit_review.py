"""PDL log review: `lus-adapter audit --patient` finds a patient by any common form of the
personnummer, and finds every read of their data — refused reads (404), `deadletters show`
(CLI and API) and replays included; the command pages and says how much it showed; outside
development mode the adapter will not start with a short or published LUS_AUDIT_KEY."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import PROJECT_ROOT, Settings
from adapter.mapping.outbound import outbound_message_id
from adapter.runtime import Runtime
from adapter.security.audit import MIN_AUDIT_KEY_BYTES, PUBLISHED_AUDIT_KEYS, audit_key
from adapter.store import schema
from tests.support.examples import fresh_copy, load_example
from tests.support.parties import KOMMUN

FHIR = {"Content-Type": "application/fhir+json"}
PATIENT_FORMS = ("191212121212", "19121212-1212", "121212-1212", "1212121212", "121212+1212")
OTHER_PATIENT = "195009072553"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def run(runtime: Runtime, *args: str) -> tuple[list[dict[str, object]], str]:
    """A command against the runtime's store: (its JSON output if any, its stderr)."""
    env = {"LUS_DATABASE_URL": runtime.settings.database_url, "LUS_AUDIT_KEY": runtime.settings.audit_key}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout.strip()
    return (orjson.loads(out) if out.startswith(("[", "{")) else []), result.stderr


def review(runtime: Runtime, *args: str) -> list[dict[str, object]]:
    records, _ = run(runtime, "audit", *args, "--format", "json")
    return records


def accept_example(client: TestClient) -> str:
    """The example admission notice, accepted: its MessageHeader.id."""
    bundle = fresh_copy(load_example("inskrivningsmeddelande.json"))
    assert (
        client.post("/fhir/$process-message", content=orjson.dumps(bundle), headers=FHIR).status_code == 200
    )
    return str(bundle["entry"][0]["resource"]["id"])


def test_every_common_form_of_the_personnummer_finds_the_patient(
    client: TestClient, runtime: Runtime
) -> None:
    accept_example(client)
    for form in PATIENT_FORMS:
        found = review(runtime, "--patient", form)
        assert [(r["action"], r["outcome"]) for r in found] == [("receive", "accepted")], form
    assert review(runtime, "--patient", OTHER_PATIENT) == []


def test_refused_reads_shown_messages_and_replays_are_found_by_patient(
    client: TestClient, runtime: Runtime
) -> None:
    source = accept_example(client)
    case_id = review(runtime, "--patient", "191212121212")[0]["case_id"]
    as_kommun = {"X-LUS-Party": KOMMUN}
    assert client.get("/cases/no-such-case", headers=as_kommun).status_code == 404
    assert client.get("/fhir/Encounter/no-such-encounter", headers=as_kommun).status_code == 404
    refused = [r for r in review(runtime, "--party", KOMMUN) if r["outcome"] == "not-found"]
    assert [(r["action"], r["case_id"]) for r in refused] == [
        ("read-case", "no-such-case"),
        ("fhir-read", None),
    ]

    to_kommun = outbound_message_id(source, KOMMUN)
    shown, _ = run(runtime, "deadletters", "show", to_kommun)
    assert shown["message_id"] == to_kommun  # type: ignore[call-overload]
    assert client.get(f"/admin/messages/{to_kommun}").status_code == 200
    with runtime.store.engine.begin() as conn:  # given up on, as the delivery worker would
        conn.execute(
            update(schema.outbox).where(schema.outbox.c.message_id == to_kommun).values(status="dead")
        )
    run(runtime, "deadletters", "replay", to_kommun)

    trail = [(r["action"], r["outcome"], r["case_id"]) for r in review(runtime, "--patient", "121212-1212")]
    assert trail == [
        ("receive", "accepted", case_id),
        ("read-message", "ok", case_id),  # deadletters show
        ("read-message", "ok", case_id),  # /admin/messages
        ("replay", "requeued", case_id),
    ]


def test_the_audit_command_pages_and_says_how_much_it_shows(runtime: Runtime) -> None:
    for i in range(25):
        runtime.store.audit(
            None, party=KOMMUN, action="read-case", outcome="ok", case_id=f"c-{i:02d}", at=1000.0 + i
        )
    first, said = run(runtime, "audit", "--party", KOMMUN, "--limit", "10", "--format", "json")
    assert [r["case_id"] for r in first] == [f"c-{i:02d}" for i in range(10)]
    assert "showing 10 of 25 record(s) (1-10); the next page: --offset 10" in said
    last, said = run(
        runtime, "audit", "--party", KOMMUN, "--limit", "10", "--offset", "20", "--format", "json"
    )
    assert [r["case_id"] for r in last] == [f"c-{i:02d}" for i in range(20, 25)]
    assert "showing 5 of 25 record(s) (21-25)" in said and "next page" not in said
    newest, said = run(
        runtime, "audit", "--party", KOMMUN, "--limit", "3", "--newest-first", "--format", "json"
    )
    assert [r["case_id"] for r in newest] == ["c-24", "c-23", "c-22"]
    _, said = run(runtime, "audit", "--party", KOMMUN, "--limit", "3")  # the table says it too
    assert "showing 3 of 25 record(s)" in said


# --- LUS_AUDIT_KEY ---

# Where a LUS_AUDIT_KEY value is written in the repository: YAML/env `LUS_AUDIT_KEY: value` or
# `LUS_AUDIT_KEY=value`, and the default in the configuration reference.
_ASSIGNED = re.compile(r"LUS_AUDIT_KEY\s*[:=]\s*['\"]?([^\s'\"`|]+)")
_DEFAULT = re.compile(r"\| `LUS_AUDIT_KEY` \| text \| `([^`]+)`")


def published_audit_keys() -> set[str]:
    found: set[str] = set()
    roots = [
        PROJECT_ROOT / "README.md",
        PROJECT_ROOT / "Dockerfile",
        PROJECT_ROOT / "docs",
        PROJECT_ROOT / "examples",
    ]
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            found |= {v for v in _ASSIGNED.findall(text) if not v.startswith(("$", "<"))}
            found |= set(_DEFAULT.findall(text))
    return found


def test_every_audit_key_the_repository_publishes_is_refused_outside_development() -> None:
    published = published_audit_keys()
    assert {
        "change-me-in-production",
        "change-me-to-a-long-random-secret",
    } <= published
    assert published <= PUBLISHED_AUDIT_KEYS, published - PUBLISHED_AUDIT_KEYS
    for key in PUBLISHED_AUDIT_KEYS:
        with pytest.raises(ValueError, match="published"):
            audit_key(Settings(auth_mode="mtls", audit_key=key))
        assert audit_key(Settings(auth_mode="development", audit_key=key)) == key.encode()
    with pytest.raises(ValueError, match=f"31 bytes.*at least {MIN_AUDIT_KEY_BYTES}"):
        audit_key(Settings(auth_mode="jwt", audit_key="x" * 31))
    assert audit_key(Settings(auth_mode="jwt", audit_key="x" * 32)) == b"x" * 32


@pytest.mark.parametrize("key", ["change-me-to-a-long-random-secret", "short"])
def test_serve_refuses_to_start_with_a_short_clear_error(tmp_path: Path, key: str) -> None:
    env = {
        **os.environ,
        "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}",
        "LUS_AUTH_MODE": "jwt",
        "LUS_JWT_JWKS_FILE": str(tmp_path / "none.json"),
        "LUS_JWT_ISSUER": "https://idp.example.test",
        "LUS_JWT_AUDIENCE": "lus-adapter",
        "LUS_AUDIT_KEY": key,
    }
    done = subprocess.run(
        [sys.executable, "-m", "adapter", "serve", "--port", "9"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    said = done.stderr.decode()
    assert said.startswith("lus-adapter: LUS_AUDIT_KEY") and "Traceback" not in said, said
    assert len(said) < 400, said
