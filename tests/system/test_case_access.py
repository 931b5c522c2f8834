"""Who may write into a case, read it and cancel it, and send which step: `lus-adapter serve` as a
process over mutual TLS, each party with its own certificate (examples/tls/make_certificates.py).

The network has a second kommun and a second vårdcentral: parties of the routing table, no party
of the case. Every refusal leaves the case as it was (its state, version, event log and outbox) and
is an audit record. PostgreSQL when LUS_TEST_POSTGRES_DSN is set, else SQLite."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, create_engine, func, select

from adapter.store import schema
from tests.support.case_messages import message, message_id
from tests.support.certificates import make_certificates
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import AdapterProcess

pytestmark = pytest.mark.slow

OTHER_KOMMUN = "TSTNMT2321000156-K1481"  # Mölndal: in the network, no party of these cases
OTHER_VARDCENTRAL = "TSTNMT2321000156-VC02"
NOWHERE = "http://127.0.0.1:9/none"
MORE_PARTIES = [
    {
        "hsa_id": OTHER_KOMMUN,
        "name": "Mölndals stad",
        "kind": "K",
        "municipality": "1481",
        "endpoint": NOWHERE,
    },
    {"hsa_id": OTHER_VARDCENTRAL, "name": "Vårdcentralen Annan", "kind": "OV", "endpoint": NOWHERE},
]
FHIR = {"Content-Type": "application/fhir+json"}
TOLVAN = "191212121212"


@dataclass
class Network:
    """The adapter, a client per party and a view of its database."""

    base: str
    pki: Path
    engine: Engine

    def client(self, party: str) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        context.load_cert_chain(self.pki / f"{party}.pem", self.pki / f"{party}.key")
        return httpx.Client(base_url=self.base, verify=context, timeout=20)

    def send(self, party: str, bundle: dict[str, Any]) -> httpx.Response:
        with self.client(party) as c:
            return c.post("/fhir/$process-message", content=orjson.dumps(bundle), headers=FHIR)

    def get(self, party: str, path: str) -> httpx.Response:
        with self.client(party) as c:
            return c.get(path)

    def case(self, case_id: str) -> tuple[Any, ...]:
        """What a refusal must not change: the case row, its event log and its outbox."""
        c, ev, ob = schema.cases.c, schema.events.c, schema.outbox.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.state, c.version).where(c.case_id == case_id)).one()
            events = conn.execute(select(func.count()).where(ev.case_id == case_id)).scalar_one()
            outbox = conn.execute(select(func.count()).where(ob.case_id == case_id)).scalar_one()
        return (row.state, row.version, events, outbox)

    def copy_sent_to(self, case_id: str, recipient: str, kind: str) -> str:
        """The id of the copy of a message this adapter queued for `recipient`: the id it knows."""
        ob = schema.outbox.c
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(ob.message_id).where(
                        ob.case_id == case_id, ob.recipient == recipient, ob.kind == kind
                    )
                ).scalar_one()
            )

    def audit_after(self, mark: int) -> list[Any]:
        a = schema.audit.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(schema.audit).where(a.id > mark).order_by(a.id)))

    def audit_mark(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(schema.audit.c.id), 0))).scalar_one())


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    folder = tmp_path_factory.mktemp("access")
    pki = make_certificates(folder / "pki", (SELF, VARDCENTRAL, KOMMUN, OTHER_KOMMUN, OTHER_VARDCENTRAL))
    config = write_routing(
        folder / "config", dict.fromkeys((SELF, VARDCENTRAL, KOMMUN), NOWHERE), more_parties=MORE_PARTIES
    )
    with ExitStack() as stack:
        dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
        url = stack.enter_context(fresh_postgres_database(dsn)) if dsn else f"sqlite:///{folder / 'lus.db'}"
        adapter = AdapterProcess(
            env={
                "LUS_AUTH_MODE": "mtls",
                "LUS_HOST": "127.0.0.1",
                "LUS_TLS_CA_FILE": str(pki / "ca.pem"),
                "LUS_TLS_CERT_FILE": str(pki / "server.pem"),
                "LUS_TLS_KEY_FILE": str(pki / "server.key"),
                "LUS_AUDIT_KEY": "a-secret-of-this-test-only-0123456789abcdef",
                "LUS_DATABASE_URL": url,
                "LUS_CONFIG_DIR": str(config),
                "LUS_WORKER": "false",
            },
            log=folder / "adapter.log",
            ca=pki / "ca.pem",
        )
        stack.callback(adapter.stop)
        adapter.start()
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        stack.callback(engine.dispose)
        yield Network(adapter.base, pki, engine)


def refused(reply: httpx.Response, status: int, rule: str) -> str:
    """The OperationOutcome's text, after checking status and rule."""
    assert reply.status_code == status, reply.text
    [issue] = reply.json()["issue"]
    assert issue["details"]["coding"][0]["code"] == rule, issue
    return str(issue["diagnostics"])


def admitted(network: Network, case_id: str) -> dict[str, Any]:
    """A case opened by its unit; the inskrivningsmeddelande sent."""
    admission = message("01-inskrivningsmeddelande", case_id)
    assert network.send(SELF, admission).status_code == 200
    return admission


def test_a_party_outside_the_case_can_neither_write_nor_read_nor_cancel_it(network: Network) -> None:
    case_id = "SU-2026-100001"
    admission = admitted(network, case_id)
    before, mark = network.case(case_id), network.audit_mark()

    # A kvittens naming the case's Encounter (and the copy the real kommun got)
    copy = network.copy_sent_to(case_id, KOMMUN, "inskrivningsmeddelande")
    kvittens = message("10-kvittens", case_id, OTHER_KOMMUN, acknowledges=copy)
    assert "is no party of case" in refused(network.send(OTHER_KOMMUN, kvittens), 403, "case-party")
    # Its reads: the case, its timeline, its pages, its FHIR resources: as if it did not exist
    for path in (
        f"/cases/{case_id}",
        f"/cases/{case_id}/timeline",
        f"/dashboard/arenden/{case_id}",
    ):
        reply = network.get(OTHER_KOMMUN, path)
        assert reply.status_code == 404, (path, reply.text)
        assert TOLVAN not in reply.text and "Tolvansson" not in reply.text
    for path in (
        "/fhir/Encounter",
        "/fhir/Patient?identifier=191212121212",
        f"/fhir/Encounter?identifier={case_id}",
    ):
        reply = network.get(OTHER_KOMMUN, path)
        assert reply.status_code == 200 and reply.json()["total"] == 0, (path, reply.text)
    assert case_id not in network.get(OTHER_KOMMUN, "/dashboard").text
    # A makulering of the hospital's inskrivningsmeddelande
    void = message("12-makulering", case_id, OTHER_KOMMUN, voids=message_id(admission))
    refused(network.send(OTHER_KOMMUN, void), 403, "case-party")

    assert network.case(case_id) == before  # not makulerad, nothing forwarded
    records = [(r.party, r.action, r.outcome, r.case_id) for r in network.audit_after(mark)]
    assert records == [
        (OTHER_KOMMUN, "receive", "denied", case_id),
        (OTHER_KOMMUN, "read-case", "denied", case_id),
        (OTHER_KOMMUN, "read-timeline", "denied", case_id),
        (OTHER_KOMMUN, "read-case", "denied", case_id),
        (OTHER_KOMMUN, "receive", "denied", case_id),
    ]
    # The case's own parties read it and write into it
    assert network.get(KOMMUN, f"/cases/{case_id}").status_code == 200
    assert network.get(VARDCENTRAL, f"/fhir/Encounter?identifier={case_id}").json()["total"] == 1
    kvittens = message("10-kvittens", case_id, KOMMUN, acknowledges=copy)
    assert network.send(KOMMUN, kvittens).status_code == 200


def test_each_step_only_from_the_role_the_step_table_gives_it(network: Network) -> None:
    case_id = "SU-2026-100002"
    admission = admitted(network, case_id)
    before, mark = network.case(case_id), network.audit_mark()

    # A vårdcentral's utskrivningsklar would start the kommun's payment clock
    text = refused(
        network.send(VARDCENTRAL, message("04-utskrivningsklar", case_id, VARDCENTRAL)), 403, "step-sender"
    )
    assert text == (
        "utskrivningsklar may be sent by the case's slutenvård unit (lus-steps.yaml: senders [unit]);"
        f" {VARDCENTRAL} is the patient's vårdcentral."
    )
    # A kommun's utskrivningsmeddelande would discharge the hospital's patient
    text = refused(
        network.send(KOMMUN, message("13-utskrivningsmeddelande", case_id, KOMMUN)), 403, "step-sender"
    )
    assert f"{KOMMUN} is the patient's kommun" in text
    # A kallelse till SIP is the vårdcentral's; fast vårdkontakt too
    refused(network.send(KOMMUN, message("05-kallelse-sip", case_id, KOMMUN)), 403, "step-sender")
    # Another vårdcentral is no party at all
    reply = network.send(OTHER_VARDCENTRAL, message("02-fast-vardkontakt-utsedd", case_id, OTHER_VARDCENTRAL))
    refused(reply, 403, "case-party")
    # A second inskrivningsmeddelande from anyone but the unit (it would take the case over)
    refused(network.send(KOMMUN, message("01-inskrivningsmeddelande", case_id, KOMMUN)), 403, "step-sender")
    # A makulering only from the sender of the message it voids
    void = message("12-makulering", case_id, KOMMUN, voids=message_id(admission))
    text = refused(network.send(KOMMUN, void), 403, "step-sender")
    assert "the sender of the voided message" in text
    # A kvittens only from a receiver of the message it acknowledges (the unit sent it)
    own = message("10-kvittens", case_id, SELF, acknowledges=message_id(admission))
    assert "a receiver of the acknowledged message" in refused(network.send(SELF, own), 403, "step-sender")
    # Opening a case is the slutenvård unit's
    refused(
        network.send(KOMMUN, message("01-inskrivningsmeddelande", "SU-2026-100009", KOMMUN)),
        403,
        "step-sender",
    )

    assert network.case(case_id) == before  # still inskriven: no payment clock, no discharge
    assert before[0] == "inskriven"
    denied = [r for r in network.audit_after(mark) if r.outcome == "denied"]
    assert [r.detail["issues"][0]["rule"] for r in denied] == ["step-sender"] * 3 + ["case-party"] + [
        "step-sender"
    ] * 4

    # The same steps from their own roles are taken
    assert network.send(VARDCENTRAL, message("02-fast-vardkontakt-utsedd", case_id)).status_code == 200
    assert network.send(SELF, message("04-utskrivningsklar", case_id)).status_code == 200
    assert network.get(SELF, f"/cases/{case_id}").json()["state"] == "utskrivningsklar"


def test_a_message_about_another_patient_is_refused(network: Network) -> None:
    case_id = "SU-2026-100003"
    admitted(network, case_id)
    before, mark = network.case(case_id), network.audit_mark()
    for name in ("01-inskrivningsmeddelande", "11-andrat-utskrivningsdatum"):
        reply = network.send(SELF, message(name, case_id, patient="195009072553"))
        text = refused(reply, 422, "patient-is-case-patient")
        assert "19…12" in text and "19…53" in text and "195009072553" not in reply.text
    assert network.case(case_id) == before
    with network.client(SELF) as c:
        assert c.get(f"/cases/{case_id}").json()["state"] == "inskriven"
        patient = c.get(f"/fhir/Patient?identifier={TOLVAN}").json()
    assert patient["total"] >= 1
    assert [(r.action, r.outcome) for r in network.audit_after(mark)][:2] == [("receive", "rejected")] * 2
