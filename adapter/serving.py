"""`serve`: bind the port first, so that the address advertised and logged is the one bound
(`--port 0` too), and say "adapter started" only once the server accepts connections."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from adapter.config import Settings
from adapter.logging import get_logger

log = get_logger("adapter.serving")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (OSError if it is taken or not ours to bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listening_url(settings: Settings, port: int) -> str:
    """http(s)://host:port of a server bound to settings.host; a wildcard address (0.0.0.0, ::)
    is named by this machine's host name, which is what other machines can use."""
    host = settings.host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = socket.getfqdn()
        elif ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    scheme = "https" if settings.tls_cert_file else "http"
    return f"{scheme}://{host}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_started()


def run(application: Any, sock: socket.socket, on_started: Callable[[], None], **options: Any) -> None:
    """Serve `application` on the bound socket until interrupted."""
    config = uvicorn.Config(application, log_level="warning", **options)  # options: tls.uvicorn_http_options
    _Server(config, on_started).run(sockets=[sock])
