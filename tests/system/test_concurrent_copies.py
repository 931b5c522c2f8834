"""Idempotent Receiver under concurrency, against `lus-adapter serve` as a process: the same message
posted twice at the same moment — opening a new case, or on an existing one — gets the original
response both times (a sender that retries after a timeout must not be told its accepted message
was refused), on SQLite and PostgreSQL, on the event loop and in pipeline threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import FHIR, AdapterProcess, stay_messages

ROUNDS = 50  # pairs of copies: the even ones open a case, the odd ones are its second message


@pytest.fixture(
    params=[
        ("sqlite", "0"),
        ("sqlite", "4"),
        pytest.param(("postgresql", "4"), marks=pytest.mark.postgres),
    ],
    ids=["sqlite-loop", "sqlite-threads", "postgresql-threads"],
)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AdapterProcess]:
    store, threads = request.param
    url = (
        f"sqlite:///{tmp_path / 'adapter.db'}"
        if store == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    nowhere = "http://127.0.0.1:9/none"
    config = write_routing(tmp_path / "config", {SELF: nowhere, KOMMUN: nowhere, VARDCENTRAL: nowhere})
    process = AdapterProcess(
        env={
            "LUS_DATABASE_URL": url,
            "LUS_CONFIG_DIR": str(config),
            "LUS_PIPELINE_THREADS": threads,
            "LUS_WORKER": "false",
        },
        log=tmp_path / "adapter.log",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def post_twice_at_once(clients: list[httpx.Client], body: bytes) -> list[httpx.Response]:
    """`body` from both clients (connections already open) released by one barrier."""
    barrier = threading.Barrier(len(clients))
    answers: list[httpx.Response | BaseException] = [RuntimeError("no answer")] * len(clients)

    def send(i: int) -> None:
        barrier.wait()
        try:
            answers[i] = clients[i].post("/fhir/$process-message", content=body, headers=FHIR)
        except BaseException as exc:
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers  # type: ignore[return-value]


def test_two_copies_at_once_both_get_the_original_response(adapter: AdapterProcess) -> None:
    clients = [httpx.Client(base_url=adapter.base, timeout=30) for _ in range(2)]
    try:
        for client in clients:  # connections open before the first round, so both copies start together
            assert client.get("/health").status_code == 200
        stay: list[dict[str, Any]] = []
        for round_ in range(ROUNDS):
            case, second = divmod(round_, 2)
            if not second:
                stay = stay_messages(f"concurrent-{case:03d}", 2)
            message = stay[second]
            body = orjson.dumps(message)
            first, other = post_twice_at_once(clients, body)
            assert (first.status_code, other.status_code) == (200, 200), (
                round_,
                first.status_code,
                first.text[:300],
                other.status_code,
                other.text[:300],
            )
            assert first.content == other.content, round_
            # The original response is the one remembered: a later resend gets it too.
            again = clients[0].post("/fhir/$process-message", content=body, headers=FHIR)
            assert again.content == first.content, round_
    finally:
        for client in clients:
            client.close()
    log = adapter.log.read_text()
    assert "Traceback" not in log and "IntegrityError" not in log, log[-3000:]
