"""Fuzzing, bounded in time: schemathesis against the OpenAPI document (every operation, valid
and invalid requests), and hypothesis-made variations of a real message into $process-message.
No 5xx, the process stays healthy, and a refused message leaves nothing stored but audit records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from adapter.app import create_app
from adapter.runtime import Runtime
from tests.support.examples import fresh_copy, load_example
from tests.support.pipeline import counts

FHIR = {"Content-Type": "application/fhir+json"}
EXAMPLE = load_example("inskrivningsmeddelande.json")
BOUNDED = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)


def stored(runtime: Runtime) -> dict[str, int]:
    """What a refused request must not change: everything but the audit log."""
    return {k: v for k, v in counts(runtime).items() if k != "audit"}


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


def test_every_operation_of_the_openapi_document(app: FastAPI, runtime: Runtime) -> None:
    with TestClient(app) as client:  # seed a case so that reads find something
        assert client.post("/fhir/$process-message", content=orjson.dumps(EXAMPLE), headers=FHIR).is_success
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @BOUNDED
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                before = stored(runtime)
                response = case.call()
                assert response.status_code < 500, (case.method, case.path, response.text[:300])
                if response.status_code >= 400:
                    assert stored(runtime) == before, (case.method, case.path)

            try:
                call()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation with no input cannot be called wrongly
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200


# --- hypothesis-made messages ---

JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


EXAMPLE_PATHS = [p for p in paths(EXAMPLE) if p]


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    """The example message with a few elements replaced by arbitrary JSON, deleted, or pointed
    at another entry (references that may loop)."""
    bundle = fresh_copy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS))
        parent: Any = bundle
        try:
            for step in path[:-1]:
                parent = parent[step]
            key = path[-1]
            action = draw(st.sampled_from(["replace", "delete", "reference"]))
            if action == "delete" and isinstance(parent, dict):
                parent.pop(key, None)
            elif action == "reference":
                target = draw(st.sampled_from(EXAMPLE["entry"]))["fullUrl"]
                parent[key] = {"reference": target}
            else:
                parent[key] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the way there
    return bundle


def test_hypothesis_messages_into_process_message(app: FastAPI, runtime: Runtime) -> None:
    with TestClient(app) as client:

        @settings(BOUNDED, max_examples=60)
        @given(bundle=mutated_messages())
        def post(bundle: dict[str, Any]) -> None:
            before = stored(runtime)
            reply = client.post(
                # the standard library writes integers of any size, which a hostile sender can send too
                "/fhir/$process-message",
                content=json.dumps(bundle).encode(),
                headers=FHIR,
            )
            assert reply.status_code < 500, reply.text[:500]
            assert reply.headers["content-type"].startswith("application/fhir+json")
            if reply.status_code != 200:
                assert reply.json()["resourceType"] == "OperationOutcome"
                assert stored(runtime) == before

        post()
        assert client.get("/health").status_code == 200
