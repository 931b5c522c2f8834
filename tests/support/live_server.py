"""The adapter's app served by a real uvicorn on loopback, in a thread of the test process (so
that the test can load its store and set its clock first)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from adapter.app import create_app
from adapter.runtime import Runtime
from adapter.security.tls import uvicorn_http_options


@contextmanager
def serving(runtime: Runtime, port: int) -> Iterator[str]:
    """Serve the runtime on 127.0.0.1:port (HTTPS when its settings name a certificate); yields
    the base URL."""
    tls = uvicorn_http_options(runtime.settings)
    config = uvicorn.Config(
        create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning", **tls
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if 'ssl_certfile' in tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
