"""Who may call, over real TLS on loopback: client certificates (made by the example script) and
bearer tokens (signed here, keys in a JWKS file). Every refusal is a 401/403 OperationOutcome
and an audit record, and stores nothing else."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.app import create_app
from adapter.config import Settings
from adapter.runtime import Runtime, build_runtime
from adapter.security.identity import Authenticator
from adapter.store import schema
from tests.support.certificates import make_certificates
from tests.support.examples import load_example, write_routing
from tests.support.live_server import serving
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.pipeline import counts, on_event_loop
from tests.support.processes import free_port

ISSUER = "https://idp.example.test"
AUDIENCE = "lus-adapter"
FHIR = {"Content-Type": "application/fhir+json"}


class Tokens:
    def __init__(self, folder: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = folder / "jwks.json"
        self.jwks.write_bytes(orjson.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}]}))

    def token(
        self, party: str, *, expires_in: float = 300, roles: list[str] | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": party, "iat": now, "exp": now + int(expires_in)}
        if roles is not None:
            body["roles"] = roles
        return jwt.encode({**body, **claims}, self.key, algorithm="ES256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    return Tokens(tmp_path_factory.mktemp("jwks"))


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, pki: Path, tokens: Tokens
) -> Iterator[tuple[str, Runtime]]:
    """One adapter serving HTTPS on loopback that takes a client certificate or a bearer token."""
    folder = tmp_path_factory.mktemp("secured")
    none = "http://127.0.0.1:9/none"
    settings = Settings(
        database_url=f"sqlite:///{folder / 'lus.db'}",
        config_dir=write_routing(folder / "config", {SELF: none, VARDCENTRAL: none, KOMMUN: none}),
        worker=False,
        auth_mode="mtls-or-jwt",
        tls_cert_file=pki / "server.pem",
        tls_key_file=pki / "server.key",
        tls_ca_file=pki / "ca.pem",
        jwt_jwks_file=tokens.jwks,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        audit_key="a-secret-only-this-test-knows-32b",
    )
    runtime = build_runtime(settings)
    with serving(runtime, free_port()) as base:
        yield base, runtime
    runtime.store.engine.dispose()


def client(pki: Path, party: str | None = None, token: str | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if party:
        context.load_cert_chain(pki / f"{party}.pem", pki / f"{party}.key")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(verify=context, headers=headers, timeout=10)


def fresh_example() -> bytes:
    bundle = load_example("inskrivningsmeddelande.json")
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return orjson.dumps(bundle)


def last_audit(runtime: Runtime) -> Any:
    with runtime.store.engine.connect() as conn:
        return conn.execute(select(schema.audit).order_by(schema.audit.c.id.desc()).limit(1)).one()


def refused(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code


def test_a_party_sends_in_its_own_name_with_its_certificate(secured: tuple[str, Runtime], pki: Path) -> None:
    base, runtime = secured
    with client(pki, SELF) as c:
        reply = c.post(f"{base}/fhir/$process-message", content=fresh_example(), headers=FHIR)
    assert reply.status_code == 200, reply.text
    assert (last_audit(runtime).party, last_audit(runtime).outcome) == (SELF, "accepted")


def test_a_certificate_of_party_a_sending_as_party_b_is_refused(
    secured: tuple[str, Runtime], pki: Path
) -> None:
    base, runtime = secured
    before = counts(runtime)
    with client(pki, VARDCENTRAL) as c:  # the message's sender is the hospital unit
        reply = c.post(f"{base}/fhir/$process-message", content=fresh_example(), headers=FHIR)
    refused(reply, 403, "forbidden")
    assert reply.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.sender"]
    audit = last_audit(runtime)
    assert (audit.party, audit.action, audit.outcome) == (VARDCENTRAL, "receive", "denied")
    assert audit.case_id == "SU-2026-000123" and audit.patient_hash, "findable in the patient's log"
    assert counts(runtime) == {**before, "audit": before["audit"] + 1}, "nothing but the audit record"


def test_a_resend_of_another_partys_message_id_gets_nothing(secured: tuple[str, Runtime], pki: Path) -> None:
    base, _runtime = secured
    body = fresh_example()
    with client(pki, SELF) as own, client(pki, KOMMUN) as other:
        assert own.post(f"{base}/fhir/$process-message", content=body, headers=FHIR).status_code == 200
        refused(other.post(f"{base}/fhir/$process-message", content=body, headers=FHIR), 403, "forbidden")


def test_without_a_certificate_or_token_refused(secured: tuple[str, Runtime], pki: Path) -> None:
    base, runtime = secured
    before = counts(runtime)
    with client(pki) as c:
        reply = c.post(f"{base}/fhir/$process-message", content=fresh_example(), headers=FHIR)
        refused(reply, 401, "login")
        assert reply.headers["www-authenticate"] == "Bearer"
        refused(c.get(f"{base}/cases/anything"), 401, "login")
        refused(c.get(f"{base}/fhir/Encounter"), 401, "login")
        refused(c.get(f"{base}/dashboard"), 401, "login")
        assert c.get(f"{base}/health").status_code == 200  # probes need no identity
    audit = last_audit(runtime)
    assert (audit.party, audit.action, audit.outcome) == (None, "authenticate", "denied")
    assert counts(runtime)["cases"] == before["cases"]


def test_an_expired_certificate_does_not_get_through_the_handshake(
    secured: tuple[str, Runtime], pki: Path
) -> None:
    base, _runtime = secured
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "expired.pem", pki / "expired.key")
    with httpx.Client(verify=context, timeout=10) as c, pytest.raises(httpx.TransportError):
        c.get(f"{base}/fhir/Encounter").raise_for_status()


def test_bearer_tokens_expired_foreign_and_valid(
    secured: tuple[str, Runtime], pki: Path, tokens: Tokens
) -> None:
    base, runtime = secured
    url = f"{base}/fhir/$process-message"
    with client(pki, token=tokens.token(SELF, expires_in=-60)) as c:
        reply = c.post(url, content=fresh_example(), headers=FHIR)
        refused(reply, 401, "login")
        assert "expired" in reply.json()["issue"][0]["diagnostics"]
    with client(pki, token=tokens.token(SELF, aud="someone-else")) as c:
        refused(c.post(url, content=fresh_example(), headers=FHIR), 401, "login")
    with client(pki, token=tokens.token(SELF, iss="https://other.example.test")) as c:
        refused(c.post(url, content=fresh_example(), headers=FHIR), 401, "login")
    other_key = Tokens(Path(runtime.settings.config_dir))
    with client(pki, token=other_key.token(SELF)) as c:  # signed by a key not in the JWKS
        refused(c.post(url, content=fresh_example(), headers=FHIR), 401, "login")
    with client(pki, token=tokens.token("TSTNMT2321000156-K9999")) as c:
        refused(c.post(url, content=fresh_example(), headers=FHIR), 403, "forbidden")
    with client(pki, token=tokens.token(KOMMUN)) as c:
        refused(c.post(url, content=fresh_example(), headers=FHIR), 403, "forbidden")
    with client(pki, token=tokens.token(SELF)) as c:
        assert c.post(url, content=fresh_example(), headers=FHIR).status_code == 200


def test_admin_endpoints_need_the_admin_role(secured: tuple[str, Runtime], pki: Path, tokens: Tokens) -> None:
    base, runtime = secured
    with client(pki, SELF) as c:
        refused(c.get(f"{base}/admin/deadletters"), 403, "forbidden")
        refused(c.post(f"{base}/admin/deadletters/replay", json={"all": True}), 403, "forbidden")
    audit = last_audit(runtime)
    assert (audit.party, audit.action, audit.outcome) == (SELF, "authorize", "denied")
    with client(pki, token=tokens.token(SELF, roles=["admin"])) as c:
        assert c.get(f"{base}/admin/deadletters").json() == {"count": 0, "deadletters": []}
        assert c.post(f"{base}/admin/deadletters/replay", json={"all": True}).status_code == 200
    audit = last_audit(runtime)
    assert (audit.party, audit.action) == (SELF, "replay")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keys_from_a_jwks_url_are_fetched_off_the_event_loop(runtime: Runtime) -> None:
    """Deciding who calls runs on the event loop, unless it may fetch the issuer's keys over the
    network: then in a worker thread, so that a slow issuer holds up no other request."""
    url_settings = Settings(
        auth_mode="jwt", jwt_jwks_url=f"{ISSUER}/jwks", jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    )
    assert Authenticator.from_settings(url_settings, SELF, lambda _: True).fetches_keys
    assert not runtime.authenticator.fetches_keys  # development mode: nothing to fetch
    on_loop: list[bool] = []
    authenticate = runtime.authenticator.authenticate

    def recording(*args: Any) -> Any:
        on_loop.append(on_event_loop())
        return authenticate(*args)

    runtime.authenticator.authenticate = recording  # type: ignore[method-assign]
    with TestClient(create_app(runtime=runtime)) as app_client:
        assert app_client.get("/admin/deadletters").status_code == 200
        runtime.authenticator.fetches_keys = True
        assert app_client.get("/admin/deadletters").status_code == 200
    assert on_loop == [True, False]


def test_development_mode_serves_only_loopback_unless_chosen() -> None:
    routing_known = lambda _hsa_id: True  # noqa: E731
    with pytest.raises(ValueError, match="loopback"):
        Authenticator.from_settings(Settings(host="0.0.0.0"), SELF, routing_known)
    chosen = Settings(host="0.0.0.0", auth_mode="development")
    assert Authenticator.from_settings(chosen, SELF, routing_known).mode == "development"
    with pytest.raises(ValueError, match="LUS_TLS_CERT_FILE"):
        Authenticator.from_settings(Settings(auth_mode="mtls"), SELF, routing_known)
