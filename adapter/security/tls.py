"""Mutual TLS with uvicorn: serve HTTPS, ask for a client certificate, and hand the verified
certificate to the app (uvicorn does not put it in the ASGI scope, so a thin subclass of the HTTP
protocol, httptools as `serve` uses without TLS, adds it to the connection's request state)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapter.config import Settings
from adapter.security.identity import DEVELOPMENT_HEADER

CLIENT_CERT = "client_cert"


class ClientCertHttpToolsProtocol(HttpToolsProtocol):
    """httptools with the peer's DER certificate (or None) in every request's `request.state`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.app_state = {**self.app_state, CLIENT_CERT: cert}


def uvicorn_http_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.run/Config keyword arguments of the HTTP side, each once: the protocol
    (httptools: less CPU per request than h11) and, when a server certificate is configured, HTTPS
    with a protocol that hands the client certificate on; a client certificate is asked for (and
    verified against the CA) when a CA is. It is optional at the handshake so that a request
    without one gets a 401 OperationOutcome, not a reset."""
    if not settings.tls_cert_file:
        return {"http": "httptools"}
    options: dict[str, Any] = {
        "ssl_certfile": str(settings.tls_cert_file),
        "ssl_keyfile": str(settings.tls_key_file) if settings.tls_key_file else None,
        "http": ClientCertHttpToolsProtocol,
    }
    if settings.tls_ca_file:
        options |= {"ssl_ca_certs": str(settings.tls_ca_file), "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    return options


def outbound_client(settings: Settings, own_party: str, max_connections: int) -> httpx.Client:
    """The delivery worker's HTTP client: it presents this adapter's client certificate (and
    trusts the configured CA) or, in development mode, names its party in a header."""
    kwargs: dict[str, Any] = {"limits": httpx.Limits(max_connections=max_connections)}
    if settings.tls_client_cert_file or settings.tls_ca_file:
        context = ssl.create_default_context(
            cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None
        )
        if settings.tls_client_cert_file:
            context.load_cert_chain(settings.tls_client_cert_file, settings.tls_client_key_file)
        kwargs["verify"] = context
    if settings.auth_mode == "development":
        kwargs["headers"] = {DEVELOPMENT_HEADER: own_party}
    return httpx.Client(**kwargs)
