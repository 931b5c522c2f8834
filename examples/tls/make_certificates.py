"""A test CA, a server certificate for the adapter and one client certificate per party, each
with the party's HSA-id in the subject's serialNumber as SITHS certificates carry it.

    .venv/bin/python examples/tls/make_certificates.py [folder]   (default examples/tls/out)

For development and tests only: the keys are unencrypted and the CA is nobody's. Then:

    LUS_AUTH_MODE=mtls LUS_HOST=127.0.0.1 LUS_TLS_CA_FILE=<folder>/ca.pem \\
    LUS_TLS_CERT_FILE=<folder>/server.pem LUS_TLS_KEY_FILE=<folder>/server.key lus-adapter serve
    curl --cacert <folder>/ca.pem --cert <folder>/TSTNMT2321000156-SV41.pem \\
         --key <folder>/TSTNMT2321000156-SV41.key https://127.0.0.1:8080/cases/...
"""

from __future__ import annotations

import ipaddress
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PARTIES = ("TSTNMT2321000156-SV41", "TSTNMT2321000156-VC01", "TSTNMT2321000156-K1480")
# The host names examples/compose.yaml's adapters reach each other by: the server certificate names them.
COMPOSE_HOSTS = ("adapter-sv", "adapter-vc", "adapter-k")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None,
    san: list[x509.GeneralName] | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer, signer = (ca[0].subject, ca[1]) if ca else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    return builder.sign(signer, hashes.SHA256())


def party_name(hsa_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LUS test"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"LUS test party {hsa_id}"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, hsa_id),
        ]
    )


def make_certificates(folder: Path, parties: tuple[str, ...] = PARTIES) -> Path:
    """ca.pem, server.pem/.key (localhost, 127.0.0.1, the compose adapters' host names),
    <hsa-id>.pem/.key per party and
    expired.pem/.key (the first party's, already expired)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_cert = _issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LUS adapter test CA")]), ca_key, None, usage=None
    )
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca = (ca_cert, ca_key)
    server_key = _key()
    server = _issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
        server_key,
        ca,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[
            x509.DNSName("localhost"),
            *(x509.DNSName(name) for name in COMPOSE_HOSTS),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
    )
    _write(folder, "server", server, server_key)
    for hsa_id in parties:
        key = _key()
        _write(
            folder, hsa_id, _issue(party_name(hsa_id), key, ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH), key
        )
    key = _key()
    expired = _issue(
        party_name(parties[0]),
        key,
        ca,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    _write(folder, "expired", expired, key)
    return folder


if __name__ == "__main__":
    out = make_certificates(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "out")
    print(f"written to {out}")
