"""The adapter as real operating-system processes, for tests that kill and restart it."""

from __future__ import annotations

import copy
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from adapter.store.outbox import PENDING
from adapter.store.store import Store
from tests.support.examples import load_example

FHIR = {"Content-Type": "application/fhir+json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_settled(database_url: str, timeout: float = 60) -> None:
    """Until no outbound message in the store can be sent any more: none is pending but those that
    wait behind a dead letter in a held line. Nothing can be delivered after this that was not
    before, so a test that then looks at what arrived (with the adapter stopped, for several
    replicas: no request still in flight) proves that nothing more came, without sleeping."""
    store = Store.from_url(database_url, migrate=False)

    def settled() -> bool:
        held = sum(line.waiting for line in store.held_lines())
        return store.outbox_counts().get(PENDING, 0) == held

    try:
        wait_until(settled, timeout, "every outbound message delivered, dead or held")
    finally:
        store.engine.dispose()


@dataclass
class AdapterProcess:
    """`python -m adapter <command>` with the given LUS_* settings; its output goes to `log`."""

    env: dict[str, str]
    log: Path
    command: tuple[str, ...] = ("serve",)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    ca: Path | None = None  # serves HTTPS with a certificate of this CA (LUS_TLS_CERT_FILE in env)

    @property
    def base(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> AdapterProcess:
        args = [*self.command, "--port", str(self.port)] if self.command[0] == "serve" else list(self.command)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "adapter", *args],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if self.command[0] == "serve":
            wait_until(self.ready, 60, "the adapter to be ready")
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"the adapter exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
            )
        try:
            verify = ssl.create_default_context(cafile=str(self.ca)) if self.ca else True
            return httpx.get(f"{self.base}/ready", timeout=1, verify=verify).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight is cut off."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def post(self, bundle: dict[str, Any], timeout: float = 10) -> httpx.Response:
        return httpx.post(
            f"{self.base}/fhir/$process-message", content=orjson.dumps(bundle), headers=FHIR, timeout=timeout
        )


def stay_messages(case_id: str, count: int) -> list[dict[str, Any]]:
    """`count` admission notices for one stay (later ones correct the first), each a new message."""
    template = load_example("inskrivningsmeddelande.json")
    bundles = []
    for _ in range(count):
        bundle = copy.deepcopy(template)
        bundle["id"] = str(uuid.uuid4())
        bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
        bundle["entry"][1]["resource"]["identifier"][0]["value"] = case_id
        bundles.append(bundle)
    return bundles


def message_id(bundle: dict[str, Any]) -> str:
    return str(bundle["entry"][0]["resource"]["id"])
