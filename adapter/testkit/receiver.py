"""The kit's receiver: an HTTPS $process-message endpoint with client certificates required, one
path per party the kit plays (`/<HSA-id>/$process-message`) and `/system/$process-message` for the
target's own system (when the target is an adapter whose own system the kit plays). It answers each
message with an `ok` response message and records it with the party its client certificate names."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from adapter.fhir.ids import random_uuid

SYSTEM = "system"


@dataclass
class Arrival:
    to: str  # the party the kit plays that it was sent to (the URL path), or "system"
    peer: str | None  # the party the sender's client certificate names
    body: bytes
    bundle: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)
    examined: bool = False

    @property
    def header(self) -> dict[str, Any]:
        try:
            resource = self.bundle["entry"][0]["resource"]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return {}
        return (
            resource if isinstance(resource, dict) and resource.get("resourceType") == "MessageHeader" else {}
        )

    @property
    def kind(self) -> str | None:
        code = (self.header.get("eventCoding") or {}).get("code")
        return code if isinstance(code, str) else None


def _peer_party(cert: dict[str, Any] | None, attribute: str) -> str | None:
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == attribute:
                return str(value)
    return None


def _answer(arrival: Arrival) -> tuple[int, dict[str, Any]]:
    head = arrival.header
    if not head.get("id"):
        return 400, {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "structure", "diagnostics": "not a FHIR message"}],
        }
    return 200, {
        "resourceType": "Bundle",
        "id": random_uuid(),
        "type": "message",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{random_uuid()}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": random_uuid(),
                    "eventCoding": head.get("eventCoding"),
                    "source": {"endpoint": "urn:lus-adapter:testkit"},
                    "response": {"identifier": head["id"], "code": "ok"},
                },
            }
        ],
    }


class Receiver:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        cert: Path,
        key: Path,
        ca: Path,
        parties: tuple[str, ...],
        peer_attribute: str = "serialNumber",
    ) -> None:
        self.host, self.port = host, port
        self.cert, self.key, self.ca = cert, key, ca
        self.parties = parties
        self.peer_attribute = peer_attribute
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def url(self, party: str) -> str:
        return f"https://{self.host}:{self.port}/{party}/$process-message"

    def take(self, arrival: Arrival) -> None:
        with self.changed:
            self.arrivals.append(arrival)
            self.changed.notify_all()

    def wait_for(self, predicate: Any, timeout: float) -> Arrival | None:
        """The first arrival not yet examined that `predicate` accepts, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for arrival in self.arrivals:
                    if not arrival.examined and predicate(arrival):
                        arrival.examined = True
                        return arrival
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(min(left, 0.2))

    def unexamined(self) -> list[Arrival]:
        with self.lock:
            found = [a for a in self.arrivals if not a.examined]
            for a in found:
                a.examined = True
            return found

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        receiver = self
        known = {*self.parties, SYSTEM}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = self.path.strip("/").split("/")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(parts) != 2 or parts[0] not in known or parts[1] != "$process-message":
                    self._send(
                        404,
                        {
                            "resourceType": "OperationOutcome",
                            "issue": [
                                {
                                    "severity": "error",
                                    "code": "not-found",
                                    "diagnostics": f"no party at {self.path}",
                                }
                            ],
                        },
                    )
                    return
                try:
                    bundle = json.loads(body)
                except ValueError:
                    bundle = None
                peer = _peer_party(self.connection.getpeercert(), receiver.peer_attribute)
                arrival = Arrival(parts[0], peer, body, bundle if isinstance(bundle, dict) else None)
                status, answer = _answer(arrival)
                receiver.take(arrival)
                self._send(status, answer)

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.load_cert_chain(self.cert, self.key)
        context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
        if self.port == 0:
            self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
