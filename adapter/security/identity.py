"""Who is calling: a client certificate or a bearer token → a party of the routing table.

Built once at start-up from the settings (`Authenticator.from_settings`); per request it only
parses a certificate or verifies a token. Every refusal names its reason (`Denied`); the API turns
it into a 401/403 OperationOutcome and an audit record.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from adapter.config import Settings
from adapter.fhir.issues import bounded
from adapter.security.limits import CONTROL_CHARACTERS

ADMIN = "admin"
PARTY_WIDTH = 100  # characters of an HSA-id (the store's party columns)
DEVELOPMENT_HEADER = "x-lus-party"

_ATTRIBUTES = {
    "serialnumber": NameOID.SERIAL_NUMBER,
    "cn": NameOID.COMMON_NAME,
    "o": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
}


@dataclass(frozen=True)
class Caller:
    party: str  # HSA-id
    roles: frozenset[str]
    via: str  # mtls | jwt | development

    @property
    def admin(self) -> bool:
        return ADMIN in self.roles


class Denied(Exception):
    """401 (who you are is not established) or 403 (you are known, but may not)."""

    def __init__(self, status: int, reason: str, party: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.party = party


def party_attribute(name: str) -> ObjectIdentifier:
    found = _ATTRIBUTES.get(name.lower())
    return found if found is not None else ObjectIdentifier(name)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(
        self,
        *,
        mode: str,
        own_party: str,
        known: Callable[[str], bool],
        party_oid: ObjectIdentifier,
        admin_parties: frozenset[str],
        jwt_key: Callable[[str], Any] | None = None,
        jwt_options: Mapping[str, Any] | None = None,
        party_claim: str = "sub",
        roles_claim: str = "roles",
        fetches_keys: bool = False,
    ) -> None:
        self.mode = mode
        self.own_party = own_party
        self.known = known
        self.party_oid = party_oid
        self.admin_parties = admin_parties
        self.jwt_key = jwt_key
        self.jwt_options = dict(jwt_options or {})
        self.party_claim = party_claim
        self.roles_claim = roles_claim
        # Whether authenticate may fetch the issuer's keys from its JWKS URL (network I/O).
        self.fetches_keys = fetches_keys

    @classmethod
    def from_settings(cls, settings: Settings, own_party: str, known: Callable[[str], bool]) -> Authenticator:
        mode = settings.auth_mode
        implicit = "auth_mode" not in settings.model_fields_set
        if mode == "development" and implicit and not is_loopback(settings.host):
            raise ValueError(
                f"LUS_AUTH_MODE is not set and LUS_HOST is {settings.host}: development mode (no"
                " authentication) only serves loopback. Set LUS_AUTH_MODE to mtls, jwt or"
                " mtls-or-jwt (or to development, knowingly)."
            )
        tls = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
        if "mtls" in mode and not all(tls):
            raise ValueError(
                f"LUS_AUTH_MODE={mode} needs LUS_TLS_CERT_FILE, LUS_TLS_KEY_FILE and LUS_TLS_CA_FILE"
            )
        jwt_key = None
        if "jwt" in mode:
            jwt_key = _jwks_keys(settings)
            if not (settings.jwt_issuer and settings.jwt_audience):
                raise ValueError(f"LUS_AUTH_MODE={mode} needs LUS_JWT_ISSUER and LUS_JWT_AUDIENCE")
        return cls(
            mode=mode,
            own_party=own_party,
            known=known,
            party_oid=party_attribute(settings.tls_party_attribute),
            admin_parties=frozenset(settings.admin_parties),
            jwt_key=jwt_key,
            jwt_options={
                "algorithms": settings.jwt_algorithms,
                "issuer": settings.jwt_issuer,
                "audience": settings.jwt_audience,
                "options": {"require": ["exp", "iss", "aud"]},
            },
            party_claim=settings.jwt_party_claim,
            roles_claim=settings.jwt_roles_claim,
            fetches_keys=jwt_key is not None and not settings.jwt_jwks_file,
        )

    def authenticate(self, headers: Mapping[str, str], client_cert: bytes | None) -> Caller:
        """The caller, or Denied. `client_cert` is the DER certificate the TLS handshake verified."""
        if self.mode == "development":
            party = headers.get(DEVELOPMENT_HEADER)
            if not party:
                return Caller(self.own_party, frozenset({ADMIN}), "development")
            return self._known(Caller(party, frozenset(), "development"))
        authorization = headers.get("authorization", "")
        if "jwt" in self.mode and authorization:
            return self._known(self._from_token(authorization))
        if "mtls" in self.mode and client_cert:
            return self._known(self._from_certificate(client_cert))
        wanted = {"mtls": "a client certificate", "jwt": "a bearer token"}.get(
            self.mode, "a client certificate or a bearer token"
        )
        raise Denied(401, f"Authentication required: present {wanted}.")

    def _known(self, caller: Caller) -> Caller:
        party = caller.party
        if len(party) > PARTY_WIDTH or CONTROL_CHARACTERS.search(party):
            # Not an HSA-id: nothing of it is echoed, stored or logged.
            what = (
                f"{len(party)} characters long" if len(party) > PARTY_WIDTH else "holds a control character"
            )
            raise Denied(
                403, f"The calling party's id {what}: not an HSA-id of this adapter's routing table."
            )
        if not self.known(party):
            raise Denied(403, f"{party} is not a party in this adapter's routing table.", party)
        return caller

    def _from_certificate(self, der: bytes) -> Caller:
        try:
            cert = x509.load_der_x509_certificate(der)
            values = cert.subject.get_attributes_for_oid(self.party_oid)
        except ValueError:
            raise Denied(401, "The client certificate cannot be read.") from None
        if not values:
            raise Denied(401, f"The client certificate's subject has no {self.party_oid.dotted_string}.")
        party = values[0].value
        if not isinstance(party, str) or not party:
            raise Denied(401, f"The client certificate's {self.party_oid.dotted_string} is not a text value.")
        roles = frozenset({ADMIN}) if party in self.admin_parties else frozenset()
        return Caller(party, roles, "mtls")

    def _from_token(self, authorization: str) -> Caller:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Denied(401, "The Authorization header is not a bearer token.")
        assert self.jwt_key is not None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str):
                raise Denied(401, "The bearer token's header has no kid naming a key of the issuer.")
            # The key as a JWK, not its bare key: PyJWT then refuses a token whose alg is not the
            # key's (an RS256 header naming an EC key), where the bare key would raise TypeError.
            claims = jwt.decode(token, self.jwt_key(kid), **self.jwt_options)
        except jwt.ExpiredSignatureError:
            raise Denied(401, "The bearer token has expired.") from None
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
            raise Denied(401, f"The bearer token is not accepted: {bounded(str(exc), 200)}") from None
        party = claims.get(self.party_claim)
        if not isinstance(party, str) or not party:
            raise Denied(401, f"The bearer token has no {self.party_claim} claim naming the party.")
        return Caller(party, self._roles(claims), "jwt")

    def _roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The roles claim: absent (no roles), a space-separated string, or a list of strings;
        anything else (a number, null, an object, a list holding other things) is refused, not
        read as something it is not."""
        if self.roles_claim not in claims:
            return frozenset()
        raw = claims[self.roles_claim]
        if isinstance(raw, str):
            return frozenset(raw.split())
        if isinstance(raw, list) and all(isinstance(r, str) for r in raw):
            return frozenset(raw)
        raise Denied(
            401,
            f"The bearer token's {self.roles_claim} claim is a {type(raw).__name__}, not a list of"
            " strings or a space-separated string.",
        )


def _jwks_keys(settings: Settings) -> Callable[[str], Any]:
    """The signing key for a token's `kid`, from a JWKS file (read once) or URL (fetched, cached)."""
    if settings.jwt_jwks_file:
        keys = jwt.PyJWKSet.from_dict(orjson.loads(Path(settings.jwt_jwks_file).read_bytes()))
        return lambda kid: keys[kid]
    if settings.jwt_jwks_url:
        client = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True)
        return client.get_signing_key
    raise ValueError("Bearer tokens need LUS_JWT_JWKS_FILE or LUS_JWT_JWKS_URL")
