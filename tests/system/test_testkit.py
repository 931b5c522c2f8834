"""The test kit as a vendor runs it: `lus-adapter testkit` as a process over mutual TLS.

Against this adapter (`lus-adapter serve` as a process, its routing table pointing the other
parties at the kit's receiver and its own system at the kit, which plays that system) it passes in
each role; against a stub that answers 200 to everything, and against one that sends steps its role
may not send, it fails with findings that name the rule broken."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.support.examples import EXAMPLES
from tests.support.network import net
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.slow

ROLES = {"sjukhus": SELF, "vardcentral": VARDCENTRAL, "kommun": KOMMUN}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(net._certificates(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def adapters(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Any, int]]]:
    """One adapter per role (PostgreSQL when LUS_TEST_POSTGRES_DSN is set, else SQLite), each
    with a kit receiver's port of its own: role → (adapter, kit port)."""
    folder = tmp_path_factory.mktemp("testkit")
    dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
    with ExitStack() as stack:
        started = {}
        for role, party in ROLES.items():
            url = (
                stack.enter_context(fresh_postgres_database(dsn, "lus_kit"))
                if dsn
                else f"sqlite:///{folder / role}.db"
            )
            adapter = net.Adapter(party, folder / role, pki, url)
            port = net.free_port()
            kit = f"https://127.0.0.1:{port}"
            adapter.configure(
                f"{kit}/system/$process-message",
                {other: f"{kit}/{other}/$process-message" for other in ROLES.values()},
            )
            adapter.start()
            stack.callback(adapter.stop, 3)
            started[role] = (adapter, port)
        with httpx.Client(verify=ssl.create_default_context(cafile=str(pki / "ca.pem"))) as probe:
            for role, (adapter, _) in started.items():
                context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
                context.load_cert_chain(pki / f"{adapter.hsa_id}.pem", pki / f"{adapter.hsa_id}.key")
                with httpx.Client(verify=context) as own:
                    net.Network.wait(lambda a=adapter, c=own: a.ready(c), 90, f"the {role} adapter")
            del probe
        yield started


def run_kit(
    pki: Path, tmp: Path, role: str, target: str, port: int, *, system: str | None = None, wait: float = 20
) -> tuple[subprocess.CompletedProcess[str], str, ET.Element]:
    """`lus-adapter testkit` as a process, playing the parties other than the role's: its exit,
    its output, its HTML report and its JUnit XML."""
    args = [sys.executable, "-m", "adapter", "testkit", "--role", role, "--target", target]
    for party in ROLES.values():
        if party != ROLES[role]:
            args += ["--cert", str(pki / f"{party}.pem"), "--key", str(pki / f"{party}.key")]
    args += ["--ca", str(pki / "ca.pem"), "--server-cert", str(pki / "server.pem")]
    args += ["--server-key", str(pki / "server.key"), "--listen", f"127.0.0.1:{port}"]
    args += [
        "--wait",
        str(wait),
        "--report-html",
        str(tmp / "report.html"),
        "--junit",
        str(tmp / "junit.xml"),
    ]
    if system:
        args += ["--system-cert", str(pki / f"{system}.pem"), "--system-key", str(pki / f"{system}.key")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    html = (tmp / "report.html").read_text("utf-8")
    return done, html, ET.parse(tmp / "junit.xml").getroot()


@pytest.mark.parametrize("role", list(ROLES))
def test_the_kit_passes_against_this_adapter_in_each_role(
    role: str, adapters: dict[str, tuple[Any, int]], pki: Path, tmp_path: Path
) -> None:
    adapter, port = adapters[role]
    done, html, junit = run_kit(pki, tmp_path, role, adapter.endpoint, port, system=ROLES[role])
    assert done.returncode == 0, done.stdout + done.stderr
    suite = junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    cases = suite.findall("testcase")
    assert len(cases) >= 5 and not any(c.find("failure") is not None for c in cases)
    assert "PASS" in html and "FAIL –" not in html
    # It did exchange messages both ways, resent and sent invalid input.
    assert "the resend got the same response" in html
    assert "HTTP 422" in html or "HTTP 400" in html
    assert any(c.get("classname", "").endswith("from-target") for c in cases)
    if role == "kommun":  # every message the kit sent was acknowledged
        assert sum("kvittens for" in (c.get("name") or "") for c in cases) >= 5


@contextmanager
def stub(pki: Path, party: str, answer: Any) -> Iterator[str]:
    """A party's system stub over mTLS that records each POST and answers with `answer(bundle)`:
    (status, body or None)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, reply = answer(json.loads(body))
            data = json.dumps(reply).encode() if reply is not None else b""
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/fhir/$process-message"
    finally:
        server.shutdown()
        server.server_close()


def test_a_stub_that_answers_200_to_everything_fails_naming_the_rules(pki: Path, tmp_path: Path) -> None:
    with stub(pki, KOMMUN, lambda bundle: (200, None)) as url:
        done, html, junit = run_kit(pki, tmp_path, "kommun", url, net.free_port(), wait=1)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "response-message: the answer is not a FHIR response message" in out
    assert "invalid-input: a message that breaks the profile got HTTP 200" in out
    assert "kvittens: no kvittens for inskrivningsmeddelande" in out
    assert "delivery: the target did not send meddelande" in out
    failures = {f.get("type") for f in junit.iter("failure")}
    assert {"response-message", "invalid-input", "kvittens", "delivery"} <= failures
    assert "rules broken" in out and "FAIL" in html


def test_a_stub_that_sends_the_wrong_steps_fails_on_the_step_table(pki: Path, tmp_path: Path) -> None:
    """The vårdcentral's stub answers well, but for the first message it gets, sends the kit's
    hospital unit and kommun an utskrivningsklar of the case: only the unit may send one."""
    port = net.free_port()
    wrong = json.loads((EXAMPLES / "bundles" / "canonical" / "04-utskrivningsklar.json").read_bytes())
    sent = threading.Event()
    answers: dict[str, Any] = {}  # the same answer for a resend
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / f"{VARDCENTRAL}.pem", pki / f"{VARDCENTRAL}.key")

    def send_wrong(case_id: str) -> None:
        text = json.dumps(wrong).replace("SU-2026-000123", case_id).replace(SELF, VARDCENTRAL)
        for party in (SELF, KOMMUN):
            bundle = json.loads(text)
            bundle["id"] = str(uuid.uuid4())
            bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
            httpx.post(
                f"https://127.0.0.1:{port}/{party}/$process-message", json=bundle, verify=context, timeout=10
            )

    def answer(bundle: dict[str, Any]) -> tuple[int, Any]:
        head = bundle["entry"][0]["resource"]
        if bundle.get("timestamp") == "not-an-instant":
            return 422, {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "value"}],
            }
        encounter = next(
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
        )
        if not sent.is_set():
            sent.set()
            threading.Thread(target=send_wrong, args=(encounter["identifier"][0]["value"],)).start()
        return 200, answers.setdefault(head["id"], ok(head))

    def ok(head: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "message",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": {
                        "resourceType": "MessageHeader",
                        "id": str(uuid.uuid4()),
                        "eventCoding": head["eventCoding"],
                        "source": {"endpoint": "https://vc.example.invalid"},
                        "response": {"identifier": head["id"], "code": "ok"},
                    },
                }
            ],
        }

    with stub(pki, VARDCENTRAL, answer) as url:
        done, _, junit = run_kit(pki, tmp_path, "vardcentral", url, port, wait=1)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "step-table: utskrivningsklar may be sent by [unit]; TSTNMT2321000156-VC01 sent it" in out
    assert {f.get("type") for f in junit.iter("failure")} >= {"step-table"}
    # What it answered was right: no finding about the answers to the kit's messages.
    assert "response-message:" not in out and "reliable-messaging:" not in out
