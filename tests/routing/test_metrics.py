"""/metrics after real traffic: a message accepted, a duplicate, a rejection, one delivery to a
real receiver on loopback and one refused into a dead letter; and every metric the example alert
rules use is one the adapter exports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from adapter.app import create_app
from adapter.config import PROJECT_ROOT, Settings
from adapter.routing.delivery import DeliveryWorker
from adapter.routing.policy import RetryPolicy
from adapter.runtime import Runtime, build_runtime
from tests.support.examples import load_example, write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.receivers import Receiver, running

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with running(Receiver()) as kommun, running(Receiver(failures=[(400, {})])) as vardcentral:
        yield kommun, vardcentral


@pytest.fixture
def runtime_to(tmp_path: Path, database_url: str, receivers: tuple[Receiver, Receiver]) -> Iterator[Runtime]:
    kommun, vardcentral = receivers
    config = write_routing(
        tmp_path / "config",
        {SELF: "http://127.0.0.1:9/none", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
    )
    runtime = build_runtime(Settings(database_url=database_url, config_dir=config, worker=False))
    yield runtime
    runtime.store.engine.dispose()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def failures() -> float:
    return sum(
        s.value
        for family in REGISTRY.collect()
        if family.name == "lus_validation_failures"
        for s in family.samples
        if s.name.endswith("_total")
    )


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def test_metrics_count_what_the_pipeline_and_the_worker_did(runtime_to: Runtime) -> None:
    kind = "inskrivningsmeddelande"
    before = {
        "accepted": sample("lus_messages_in_total", kind=kind, outcome="accepted"),
        "duplicate": sample("lus_messages_in_total", kind=kind, outcome="duplicate"),
        "rejected": sample("lus_messages_in_total", kind=kind, outcome="rejected"),
        "delivered": sample("lus_messages_out_total", kind=kind, outcome="delivered"),
        "dead": sample("lus_messages_out_total", kind=kind, outcome="dead"),
        "latency": sample("lus_delivery_latency_seconds_count", outcome="delivered"),
        "failures": failures(),
    }
    with TestClient(create_app(runtime=runtime_to)) as client:
        body = orjson.dumps(load_example("inskrivningsmeddelande.json"))
        assert client.post("/fhir/$process-message", content=body, headers=FHIR).status_code == 200
        assert client.post("/fhir/$process-message", content=body, headers=FHIR).status_code == 200
        invalid = orjson.dumps(load_example("invalid-inskrivningsmeddelande-personnummer.json"))
        refused = client.post("/fhir/$process-message", content=invalid, headers=FHIR)
        assert refused.status_code == 422
        rules = [
            i["details"]["coding"][0]["code"] for i in refused.json()["issue"] if i["severity"] == "error"
        ]

        queued = scrape(client)
        assert queued[("lus_delivery_queue_depth", (("recipient", KOMMUN),))] == 1

        worker = DeliveryWorker(runtime_to.store, RetryPolicy(attempts_per_claim=1), sleep=lambda _s: None)
        assert worker.run_once() == 2  # the kommun takes it; the vårdcentral answers 400
        after = scrape(client)

    def grew(name: str, key: str, **labels: str) -> float:
        return after[(name, tuple(sorted(labels.items())))] - before[key]

    assert grew("lus_messages_in_total", "accepted", kind=kind, outcome="accepted") == 1
    assert grew("lus_messages_in_total", "duplicate", kind=kind, outcome="duplicate") == 1
    assert grew("lus_messages_in_total", "rejected", kind=kind, outcome="rejected") == 1
    assert failures() - before["failures"] == len(rules)  # one per blocking issue, by its rule
    assert after[("lus_validation_failures_total", (("rule", rules[0]),))] >= 1
    assert grew("lus_messages_out_total", "delivered", kind=kind, outcome="delivered") == 1
    assert grew("lus_messages_out_total", "dead", kind=kind, outcome="dead") == 1
    assert grew("lus_delivery_latency_seconds_count", "latency", outcome="delivered") == 1
    assert after[("lus_dead_letters", (("recipient", VARDCENTRAL),))] == 1
    assert after[("lus_delivery_held_lines", (("recipient", VARDCENTRAL),))] == 1  # its case's line
    assert after[("lus_delivery_held_messages", (("recipient", VARDCENTRAL),))] == 0  # nothing after it
    assert ("lus_delivery_queue_depth", (("recipient", KOMMUN),)) not in after  # nothing waits
    assert after[("lus_deadlines", (("kind", kind), ("status", "met")))] == 1
    for name, _labels in after:
        assert "191212121212" not in name and all("191212121212" not in v for _, v in _labels)


def test_every_metric_in_the_alert_rules_is_exported(runtime_to: Runtime) -> None:
    with TestClient(create_app(runtime=runtime_to)) as client:
        text = client.get("/metrics").text
    families = {f.name for f in text_string_to_metric_families(text)}
    rules = (PROJECT_ROOT / "examples" / "alerts" / "lus-adapter.rules.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\b(lus_[a-z_]+)", rules))
    assert used
    for name in used:
        family = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert family in families, f"{name} is used by an alert rule but not exported"
