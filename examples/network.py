"""A network of three on loopback: the hospital unit's, the vårdcentral's and the kommun's LUS
adapters (`lus-adapter serve`, each with its own store and config as in examples/compose/), mutual
TLS between every two of them (certificates from examples/tls/make_certificates.py), and beside
each a stub of the party's own system that records what it receives. Plays the example cases, each
message posted by its sender's system to its own adapter, and prints what each system received.

    make network                     (or: .venv/bin/python examples/network.py)

The system test tests/system/test_network.py runs the same network and asserts on it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

EXAMPLES = Path(__file__).resolve().parent
CASES = {
    "SU-2026-000123": sorted((EXAMPLES / "bundles" / "canonical").glob("*.json")),
    "SU-2026-000124": sorted((EXAMPLES / "bundles" / "canonical-avliden").glob("*.json")),
}
SV, VC, K = "TSTNMT2321000156-SV41", "TSTNMT2321000156-VC01", "TSTNMT2321000156-K1480"
PARTIES = {SV: "sv", VC: "vc", K: "k"}  # HSA-id → its folder in examples/compose/
NAMES = {SV: "the hospital unit", VC: "the vårdcentral", K: "the kommun"}
ORIGIN = "https://lus-adapter.org/fhir/StructureDefinition/origin-message"
FHIR = {"Content-Type": "application/fhir+json"}


def _certificates(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "make_certificates", EXAMPLES / "tls" / "make_certificates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.make_certificates(folder))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def header(bundle: dict[str, Any]) -> dict[str, Any]:
    return dict(bundle["entry"][0]["resource"])


def origin_of(bundle: dict[str, Any]) -> str:
    """The id the sender's system gave the message (a copy carries it; else its own id)."""
    found = next((e["valueId"] for e in header(bundle).get("extension", []) if e.get("url") == ORIGIN), None)
    return str(found or header(bundle)["id"])


def sender_of(bundle: dict[str, Any]) -> str:
    ref = header(bundle)["sender"]["reference"]
    org = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == ref)
    return str(org["identifier"][0]["value"])


def _kind(bundle: dict[str, Any]) -> str:
    return str(header(bundle)["eventCoding"]["code"])


def case_of(bundle: dict[str, Any]) -> str:
    encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    return str(encounter["identifier"][0]["value"])


@dataclass
class PartySystem:
    """A stub of one party's own system: an HTTPS $process-message endpoint that answers ok,
    applies each MessageHeader.id once and records what it applied. It refuses (422, fatal) the
    messages whose origin id is in `refuse`."""

    hsa_id: str
    pki: Path
    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/fhir/$process-message"

    def take(self, bundle: dict[str, Any]) -> int:
        with self.lock:
            if origin_of(bundle) in self.refuse:
                self.refused.append(origin_of(bundle))
                return 422
            if any(header(b)["id"] == header(bundle)["id"] for b in self.received):
                self.duplicates += 1
            else:
                self.received.append(bundle)
            return 200

    @contextmanager
    def serving(self) -> Iterator[PartySystem]:
        system = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bundle = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = system.take(bundle)
                if status == 200:
                    answer: dict[str, Any] = {
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
                                    "eventCoding": header(bundle)["eventCoding"],
                                    "source": {"endpoint": system.url},
                                    "response": {"identifier": header(bundle)["id"], "code": "ok"},
                                },
                            }
                        ],
                    }
                else:
                    answer = {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "processing", "diagnostics": "refused"}],
                    }
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki / "ca.pem"))
        context.load_cert_chain(self.pki / "server.pem", self.pki / "server.key")
        context.verify_mode = ssl.CERT_REQUIRED  # only its own adapter, with its party's certificate
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@dataclass
class Link:
    """A TCP relay between one adapter and another that can be cut (connections refused, as if
    the network between them were down) and restored: for messages that cross on the network."""

    target: int
    port: int = field(default_factory=free_port)
    open: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def relaying(self) -> Iterator[Link]:
        self.open.set()
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.2)
        stop = threading.Event()

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while chunk := a.recv(65536):
                    b.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    with suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        def accept() -> None:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not self.open.is_set():
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target))
                threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
            listener.close()


@dataclass
class Adapter:
    """One party's `lus-adapter serve` process over mutual TLS."""

    hsa_id: str
    folder: Path
    pki: Path
    database_url: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/fhir/$process-message"

    @property
    def env(self) -> dict[str, str]:
        pki = self.pki
        return {
            "LUS_DATABASE_URL": self.database_url,
            "LUS_CONFIG_DIR": str(self.folder / "config"),
            "LUS_AUTH_MODE": "mtls",
            "LUS_TLS_CA_FILE": str(pki / "ca.pem"),
            "LUS_TLS_CERT_FILE": str(pki / "server.pem"),
            "LUS_TLS_KEY_FILE": str(pki / "server.key"),
            "LUS_TLS_CLIENT_CERT_FILE": str(pki / f"{self.hsa_id}.pem"),
            "LUS_TLS_CLIENT_KEY_FILE": str(pki / f"{self.hsa_id}.key"),
            "LUS_AUDIT_KEY": secrets.token_hex(32),  # a new secret each run: the demo keeps no data
            "LUS_LOG_JSON": "false",
            # Quick turns on loopback: a message that crossed another on the network is retried
            # within a second, and a destination's circuit opened by such retries closes as soon.
            "LUS_WORKER_POLL_SECONDS": "0.05",
            "LUS_DELIVERY_BACKOFF_INITIAL_SECONDS": "0.1",
            "LUS_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
            "LUS_DELIVERY_BREAKER_RESET_SECONDS": "0.5",
        }

    def configure(self, own_system: str, endpoints: dict[str, str]) -> None:
        """Its config folder: examples/compose/<party>/parties.yaml with loopback addresses, and
        the region's step table and rules from examples/config/."""
        config = self.folder / "config"
        config.mkdir(parents=True, exist_ok=True)
        table = yaml.safe_load(
            (EXAMPLES / "compose" / PARTIES[self.hsa_id] / "parties.yaml").read_text("utf-8")
        )
        table["self"]["base_url"] = f"{self.base}/fhir"
        for party in table["parties"]:
            party["endpoint"] = own_system if party["hsa_id"] == self.hsa_id else endpoints[party["hsa_id"]]
        (config / "parties.yaml").write_text(yaml.safe_dump(table, allow_unicode=True), "utf-8")
        for name in ("lus-steps.yaml", "lus-rules.yaml"):
            shutil.copy(EXAMPLES / "config" / name, config / name)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`lus-adapter <args>` against this adapter's store and config."""
        return subprocess.run(
            [sys.executable, "-m", "adapter", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def start(self) -> None:
        log = (self.folder / "adapter.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapter", "serve", "--port", str(self.port)],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready(self, client: httpx.Client) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.folder / "adapter.log").read_text("utf-8", errors="replace")
            raise RuntimeError(
                f"the {PARTIES[self.hsa_id]} adapter exited with {self.proc.returncode}: {log[-3000:]}"
            )
        try:
            return client.get(f"{self.base}/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, grace: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def metric(self, client: httpx.Client, name: str, label: str = "") -> float:
        """The sum of a Prometheus metric over the series whose labels contain `label`."""
        text = client.get(f"{self.base}/metrics", timeout=5).text
        series = re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M)
        return sum(float(m.group(2)) for m in series if label in (m.group(1) or ""))


class Network:
    """Three adapters and their parties' systems; `links` relays (sender, receiver) adapter pairs
    through a Link that the caller may cut."""

    def __init__(
        self,
        folder: Path,
        database_urls: dict[str, str] | None = None,
        links: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.folder = folder
        self.pki = _certificates(folder / "pki")
        self.systems = {h: PartySystem(h, self.pki) for h in PARTIES}
        urls = database_urls or {h: f"sqlite:///{folder / p / 'lus.db'}" for h, p in PARTIES.items()}
        self.adapters = {h: Adapter(h, folder / p, self.pki, urls[h]) for h, p in PARTIES.items()}
        self.links = {pair: Link(self.adapters[pair[1]].port) for pair in links}
        self.clients = {h: httpx.Client(verify=self.tls_context(h)) for h in PARTIES}

    def tls_context(self, party: str) -> ssl.SSLContext:
        """What a party's system presents to its adapter: its party's client certificate."""
        context = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        context.load_cert_chain(self.pki / f"{party}.pem", self.pki / f"{party}.key")
        return context

    @contextmanager
    def running(self) -> Iterator[Network]:
        with ExitStack() as stack:
            for system in self.systems.values():
                stack.enter_context(system.serving())
            for link in self.links.values():
                stack.enter_context(link.relaying())
            for h, adapter in self.adapters.items():
                endpoints = {
                    other: (
                        f"https://127.0.0.1:{self.links[(h, other)].port}/fhir/$process-message"
                        if (h, other) in self.links
                        else a.endpoint
                    )
                    for other, a in self.adapters.items()
                }
                adapter.configure(self.systems[h].url, endpoints)
                adapter.start()
            stack.callback(self.stop)
            for client in self.clients.values():
                stack.callback(client.close)
            self.wait(
                lambda: all(a.ready(self.clients[h]) for h, a in self.adapters.items()), 90, "the adapters"
            )
            yield self

    def stop(self) -> None:
        """All adapters at once, killed after a short grace: each one's graceful shutdown waits
        for the TLS keep-alive connections the others' delivery workers hold to it (up to 30 s),
        and nothing in flight needs it here: the network has settled."""
        for adapter in self.adapters.values():
            if adapter.proc is not None and adapter.proc.poll() is None:
                adapter.proc.terminate()
        for adapter in self.adapters.values():
            adapter.stop(grace=3)

    def post(self, bundle: dict[str, Any]) -> httpx.Response:
        """The message, posted by its sender's system to its sender's adapter."""
        sender = sender_of(bundle)
        return self.clients[sender].post(
            self.adapters[sender].endpoint, content=json.dumps(bundle).encode(), headers=FHIR, timeout=30
        )

    def pending(self) -> float:
        """Messages the adapters still hold for delivery."""
        return sum(a.metric(self.clients[h], "lus_delivery_queue_depth") for h, a in self.adapters.items())

    def settle(self, timeout: float = 60) -> None:
        """Until every adapter has delivered what it holds."""
        self.wait(lambda: self.pending() == 0, timeout, "the adapters to deliver what they hold")

    def play(self, paths: list[Path], *, settle: bool = True) -> None:
        """Each message by its sender's system to its own adapter; each party acts on what it has
        received, so the next message is sent when the network has delivered the last."""
        for path in paths:
            reply = self.post(json.loads(path.read_bytes()))
            if reply.status_code != 200:
                raise AssertionError(f"{path.name}: HTTP {reply.status_code} {reply.text[:800]}")
            if settle:
                self.settle()

    @staticmethod
    def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def received(self) -> dict[str, list[tuple[str, str, str, str]]]:
        """Per party's system: (case id, step file, kind, sender) of each message, in arrival order."""
        steps = {header(json.loads(p.read_bytes()))["id"]: p.stem for paths in CASES.values() for p in paths}
        return {
            h: [
                (
                    case_of(b),
                    steps.get(origin_of(b), origin_of(b)),
                    header(b)["eventCoding"]["code"],
                    sender_of(b),
                )
                for b in system.received
            ]
            for h, system in self.systems.items()
        }

    def report(self) -> str:
        """Per party's system, per case: the example steps it received, in arrival order, and from
        whom (SV: the hospital unit, VC: the vårdcentral, K: the kommun)."""
        lines = []
        for h, got in self.received().items():
            lines.append(f"{NAMES[h]}'s system ({h}) received {len(got)}:")
            for case_id in CASES:
                steps = [f"{step}\u00a0({PARTIES[who].upper()})" for c, step, _, who in got if c == case_id]
                text = f"{case_id}: {', '.join(steps) or '-'}"
                wrapped = textwrap.wrap(
                    text, 100, initial_indent="  ", subsequent_indent=" " * 18, break_on_hyphens=False
                )
                lines += [line.replace("\u00a0", " ") for line in wrapped]
        return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lus-network-") as tmp, Network(Path(tmp)).running() as network:
        for case_id, paths in CASES.items():
            print(
                f"playing {case_id}: {len(paths)} messages, each from its sender's system to its own adapter"
            )
            network.play(paths)
        print(network.report())


if __name__ == "__main__":
    main()
