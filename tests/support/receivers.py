"""Real HTTP receivers on loopback, standing in for the other parties' systems.

Each answers like a FHIR messaging endpoint: a response message with code ok for the
MessageHeader it received; it can be told to fail first (e.g. 503 twice, a slow answer, a reset
connection), to refuse given messages (422, a fatal answer), or to be slow every time. It applies
each MessageHeader.id once (a receiver's own dedupe) and records what it applied, and when.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Slow:
    """Answer normally (the message is applied), but only after `seconds`."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Drop the connection with a TCP reset, no answer (the message is not applied)."""


Fault = tuple[int, dict[str, str]] | Slow | Reset  # (status, headers): answer that, not applied


class _ResetConnection(Exception):
    pass


@dataclass
class Receiver:
    port: int = 0
    failures: list[Fault] = field(default_factory=list)  # what to do first, one per request
    refuse: set[str] = field(default_factory=set)  # MessageHeader.ids answered 422 (fatal) every time
    delay: float = 0.0  # seconds before every answer
    on_request: Callable[[str], None] | None = None  # called with the MessageHeader.id, unlocked
    requests: int = 0
    applied: list[dict[str, Any]] = field(default_factory=list)  # bundles, each MessageHeader.id once
    applied_at: dict[str, float] = field(default_factory=dict)  # MessageHeader.id → time.time()
    duplicates: int = 0
    log: list[tuple[float, str]] = field(default_factory=list)  # (arrival time, what it did)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/$process-message"

    @property
    def applied_ids(self) -> list[str]:
        with self.lock:
            return [b["entry"][0]["resource"]["id"] for b in self.applied]

    def handle(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        arrived = time.time()
        bundle = json.loads(body)
        header = bundle["entry"][0]["resource"]
        with self.lock:
            self.requests += 1
            fault = self.failures.pop(0) if self.failures else None
        if self.on_request is not None:
            self.on_request(header["id"])
        if isinstance(fault, Reset):
            self._note(arrived, "reset")
            raise _ResetConnection
        if isinstance(fault, tuple):
            status, headers = fault
            self._note(arrived, str(status))
            return status, headers, b'{"resourceType":"OperationOutcome","issue":[]}'
        if header["id"] in self.refuse:
            self._note(arrived, "refused")
            return 422, {}, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error"}]}'
        time.sleep(self.delay + (fault.seconds if isinstance(fault, Slow) else 0.0))
        with self.lock:
            if header["id"] in self.applied_at:
                self.duplicates += 1
                self.log.append((arrived, "duplicate"))
            else:
                self.applied.append(bundle)
                self.applied_at[header["id"]] = time.time()
                self.log.append((arrived, "applied"))
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

    def _note(self, arrived: float, outcome: str) -> None:
        with self.lock:
            self.log.append((arrived, outcome))


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint would

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                status, headers, payload = receiver.handle(body)
            except _ResetConnection:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many deliveries at once must not be refused by a short backlog

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request (the crash tests) is expected here


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", receiver.port), _handler(receiver))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
