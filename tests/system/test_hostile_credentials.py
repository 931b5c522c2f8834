"""Malformed and hostile credentials against `lus-adapter serve` as a process (HTTPS, mutual TLS or
bearer token): every one is a 401/403 OperationOutcome with an audit record, never a 500; claims
of the wrong type are refused, not read as something else (a `roles` object grants nothing)."""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import secrets
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select

from adapter.config import PROJECT_ROOT
from adapter.store import schema
from adapter.store.store import Store
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import AdapterProcess, wait_until

ISSUER = "https://idp.example.test"
AUDIENCE = "lus-adapter"


def _certificates_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_certificates", PROJECT_ROOT / "examples" / "tls" / "make_certificates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Pki:
    """A test CA, the server's certificate, and client certificates with any subject serialNumber."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.m = _certificates_module()
        key = self.m._key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile-credentials test CA")])
        self.ca = (self.m._issue(name, key, None, usage=None), key)
        self.m._write(folder, "ca", self.ca[0], key)
        server_key = self.m._key()
        server = self.m._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
            server_key,
            self.ca,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        self.m._write(folder, "server", server, server_key)

    def client(self, label: str, serial_number: str) -> tuple[Path, Path]:
        key = self.m._key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, label),
                # UTF8String: a PrintableString could not hold what a hostile CA-signed subject may
                x509.NameAttribute(
                    NameOID.SERIAL_NUMBER, serial_number, _ASN1Type.UTF8String, _validate=False
                ),
            ]
        )
        cert = self.m._issue(subject, key, self.ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        self.m._write(self.folder, label, cert, key)
        return self.folder / f"{label}.pem", self.folder / f"{label}.key"


class Issuer:
    """The identity provider: a JWKS with an EC key (kid ec1) and an RSA key (kid rsa1)."""

    def __init__(self, folder: Path) -> None:
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys = [
            {
                **jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True),
                "kid": "ec1",
                "alg": "ES256",
            },
            {
                **jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True),
                "kid": "rsa1",
                "alg": "RS256",
            },
        ]
        self.jwks = folder / "jwks.json"
        self.jwks.write_bytes(orjson.dumps({"keys": keys}))

    def token(self, *, kid: Any = "ec1", alg: str = "ES256", key: Any = None, **claims: Any) -> str:
        """Signed by hand (PyJWT would not write a kid that is not a string)."""
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": SELF, "iat": now, "exp": now + 300, **claims}
        signer = key if key is not None else (self.ec if alg.startswith("ES") else self.rsa)
        header = {"alg": alg, "typ": "JWT", "kid": kid}
        signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(body))}"
        signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), signer)
        return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TlsAdapter(AdapterProcess):
    ca_file: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the adapter exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.base}/ready", verify=self.context(), timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert:
            context.load_cert_chain(*cert)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("idp"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, pki: Pki, issuer: Issuer
) -> Iterator[tuple[TlsAdapter, str]]:
    url = (
        f"sqlite:///{tmp_path / 'adapter.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    nowhere = "http://127.0.0.1:9/none"
    config = write_routing(tmp_path / "config", {SELF: nowhere, KOMMUN: nowhere, VARDCENTRAL: nowhere})
    process = TlsAdapter(
        env={
            "LUS_DATABASE_URL": url,
            "LUS_CONFIG_DIR": str(config),
            "LUS_WORKER": "false",
            "LUS_AUTH_MODE": "mtls-or-jwt",
            "LUS_TLS_CERT_FILE": str(pki.folder / "server.pem"),
            "LUS_TLS_KEY_FILE": str(pki.folder / "server.key"),
            "LUS_TLS_CA_FILE": str(pki.folder / "ca.pem"),
            "LUS_JWT_JWKS_FILE": str(issuer.jwks),
            "LUS_JWT_ISSUER": ISSUER,
            "LUS_JWT_AUDIENCE": AUDIENCE,
            "LUS_AUDIT_KEY": secrets.token_hex(32),
        },
        log=tmp_path / "adapter.log",
    )
    process.ca_file = pki.folder / "ca.pem"
    process.start()
    try:
        yield process, url
    finally:
        process.stop()


def audit_count(url: str) -> int:
    store = Store.from_url(url, migrate=False)
    try:
        with store.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.audit)).scalar_one())
    finally:
        store.engine.dispose()


def hostile_tokens(issuer: Issuer) -> dict[str, tuple[str, int]]:
    header = _b64(b'{"alg":"ES256","kid":"ec1"}')
    return {
        # The kid names a key of another type than the token's alg.
        "RS256 header naming the EC key": (issuer.token(kid="ec1", alg="RS256", key=issuer.rsa), 401),
        "ES256 header naming the RSA key": (issuer.token(kid="rsa1", alg="ES256", key=issuer.ec), 401),
        "kid a number": (issuer.token(kid=7), 401),
        "kid null": (issuer.token(kid=None), 401),
        "kid unknown": (issuer.token(kid="nobody"), 401),
        "roles a number": (issuer.token(roles=5), 401),
        "roles null": (issuer.token(roles=None), 401),
        "roles an object with admin": (issuer.token(roles={"admin": 1}), 401),
        "roles a list holding a number": (issuer.token(roles=["admin", 3]), 401),
        "sub a number": (issuer.token(sub=42), 401),
        "sub 150 characters": (issuer.token(sub="P" * 150), 403),
        "sub with a control character": (issuer.token(sub="TSTNMT2321000156-SV41\x01"), 403),
        "alg none": (jwt.encode({"sub": SELF, "iss": ISSUER, "aud": AUDIENCE}, None, algorithm="none"), 401),
        "header not JSON": (f"{_b64(b'{nope')}.{_b64(b'{}')}.{_b64(b'x')}", 401),
        "payload not JSON": (f"{header}.{_b64(b'[1,')}.{_b64(b'x')}", 401),
        "not base64": (f"{header}.%%%.***", 401),
        "10 000 characters": ("a" * 10_000, 401),
    }


def test_every_hostile_token_is_refused_and_audited_never_a_500(
    adapter: tuple[TlsAdapter, str], issuer: Issuer
) -> None:
    process, url = adapter
    cases = hostile_tokens(issuer)
    before = audit_count(url)
    with httpx.Client(verify=process.context(), timeout=10) as client:
        for name, (token, status) in cases.items():
            reply = client.get(
                f"{process.base}/admin/deadletters", headers={"Authorization": f"Bearer {token}"}
            )
            assert reply.status_code == status, (name, reply.status_code, reply.text[:300])
            assert reply.json()["resourceType"] == "OperationOutcome", name
            assert len(reply.content) < 2_000, name
        # The same issuer's well-formed admin token is let in: the refusals above are the token's.
        good = issuer.token(roles=["admin"])
        assert client.get(
            f"{process.base}/admin/deadletters", headers={"Authorization": f"Bearer {good}"}
        ).is_success
        not_admin = issuer.token(roles="reader")
        reply = client.get(
            f"{process.base}/admin/deadletters", headers={"Authorization": f"Bearer {not_admin}"}
        )
        assert reply.status_code == 403
    wait_until(lambda: audit_count(url) >= before + len(cases) + 1, 10, "an audit record per refusal")
    assert audit_count(url) == before + len(cases) + 1  # +1: the non-admin's 403
    assert "Traceback" not in process.log.read_text()


def test_hostile_client_certificates_are_refused_and_audited(
    adapter: tuple[TlsAdapter, str], pki: Pki
) -> None:
    process, url = adapter
    certificates = {
        "serialNumber of 150 characters": (pki.client("long", "P" * 150), 403),
        "serialNumber with a control character": (pki.client("control", "TSTNMT2321000156-SV41\x01"), 403),
        "serialNumber of no party": (pki.client("stranger", "TSTNMT2321000156-K9999"), 403),
    }
    before = audit_count(url)
    for name, (cert, status) in certificates.items():
        with httpx.Client(verify=process.context(cert), timeout=10) as client:
            reply = client.get(f"{process.base}/cases/some-case")
        assert reply.status_code == status, (name, reply.status_code, reply.text[:300])
        assert len(reply.content) < 2_000, name
    assert audit_count(url) == before + len(certificates)
    assert "Traceback" not in process.log.read_text()
