"""CLI output as a script or a pipe reads it: one JSON document for several files, the dialect
told from the Bundle, tables that keep every character when piped, refusals in words."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from adapter.routing.delivery import DeliveryWorker
from adapter.routing.policy import RetryPolicy, answer_text
from adapter.runtime import Runtime
from tests.support.examples import EXAMPLES
from tests.support.outbox import enqueue

pytestmark = pytest.mark.slow


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # as in a pipe
    return subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_json_on_several_files_is_one_document_naming_each_file(tmp_path: Path) -> None:
    good = EXAMPLES / "bundles" / "inskrivningsmeddelande.json"
    bad = EXAMPLES / "bundles" / "invalid-inskrivningsmeddelande-personnummer.json"
    missing = tmp_path / "missing.json"
    result = cli("validate", "--format", "json", str(good), str(bad), str(missing))
    assert result.returncode == 1
    checked = orjson.loads(result.stdout)  # one JSON document, not one per file
    assert [(c["file"], c["valid"]) for c in checked] == [
        (str(good), True),
        (str(bad), False),
        (str(missing), False),
    ]
    assert all(c["outcome"]["resourceType"] == "OperationOutcome" for c in checked)
    assert any("personnummer" in str(i) for i in checked[1]["outcome"]["issue"])


def test_translate_tells_the_dialect_from_the_bundle_type() -> None:
    result = cli("translate", str(EXAMPLES / "bundles" / "transaction" / "01-inskrivningsmeddelande.json"))
    assert result.returncode == 0, result.stderr
    assert "dialect: transaction (from Bundle.type)" in result.stderr
    [event] = orjson.loads(result.stdout)
    assert event["kind"] == "inskrivningsmeddelande"


def test_translate_of_something_that_is_no_dialect_says_what_to_pass(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": []}))
    result = cli("translate", str(batch))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot tell its dialect from Bundle.type 'batch'" in result.stderr
    assert "pass --dialect, one of: canonical, communication, transaction" in result.stderr


REFUSAL = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "value",
            "diagnostics": "Encounter.period.start is after the discharge the receiver already holds",
            "expression": ["Bundle.entry[1].resource.period.start"],
        }
    ],
}


@contextmanager
def refusing_receiver() -> Iterator[str]:
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = orjson.dumps(REFUSAL)
            self.send_response(422)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir/$process-message"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dead_letter_table_piped_is_complete_and_its_error_readable(runtime: Runtime) -> None:
    message_id = "lus-out-6f1c2a9e-3b7d-4c1e-9a52-0d3e4a01b2c3-TSTNMT2321000156-K1480"
    case_id = "SU-2026-A-LONG-EPISODE-OF-CARE-IDENTIFIER-000123"
    with refusing_receiver() as url:
        enqueue(runtime, url, message_id, case_id=case_id)
        worker = DeliveryWorker(runtime.store, RetryPolicy(timeout=5.0), concurrency=1)
        assert worker.run_once() == 1
    result = cli("deadletters", "list", env={"LUS_DATABASE_URL": runtime.settings.database_url})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert message_id in out and case_id in out and "…" not in out
    assert (
        "HTTP 422: Bundle.entry[1].resource.period.start: Encounter.period.start is after the"
        " discharge the receiver already holds"
    ) in out  # the receiver's issue in words on one line, not raw JSON
    assert '{"resourceType"' not in out


def test_a_refusal_in_words() -> None:
    assert answer_text(orjson.dumps(REFUSAL)) == (
        "Bundle.entry[1].resource.period.start: Encounter.period.start is after the discharge the"
        " receiver already holds"
    )
    assert answer_text(b"<html>\n<h1>Bad Gateway</h1></html>") == "<html> <h1>Bad Gateway</h1></html>"
    assert len(answer_text(b"x" * 1000)) == 300
