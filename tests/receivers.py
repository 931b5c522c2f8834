"""Real HTTP receivers on loopback, standing in for the other parties' systems.

Each answers like a FHIR messaging endpoint: a response message with code ok for the
MessageHeader it received; it can be told to fail first (e.g. 503 twice). It applies each
MessageHeader.id once (a receiver's own dedupe) and records what it applied.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    port: int = 0
    failures: list[tuple[int, dict[str, str]]] = field(
        default_factory=list
    )  # (status, headers) to answer first
    requests: int = 0
    applied: list[dict[str, Any]] = field(default_factory=list)  # bundles, each MessageHeader.id once
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/$process-message"

    def handle(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            if self.failures:
                status, headers = self.failures.pop(0)
                return status, headers, b'{"resourceType":"OperationOutcome","issue":[]}'
            bundle = json.loads(body)
            header = bundle["entry"][0]["resource"]
            if any(b["entry"][0]["resource"]["id"] == header["id"] for b in self.applied):
                self.duplicates += 1
            else:
                self.applied.append(bundle)
        answer = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "message",
            "timestamp": "2026-11-23T10:00:00+01:00",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": {
                        "resourceType": "MessageHeader",
                        "id": str(uuid.uuid4()),
                        "eventCoding": header["eventCoding"],
                        "source": {"endpoint": self.url},
                        "response": {"identifier": header["id"], "code": "ok"},
                    },
                }
            ],
        }
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(answer).encode()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, headers, payload = receiver.handle(body)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), _handler(receiver))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
