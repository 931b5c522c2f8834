"""What the adapter builds once at start-up (adapter/runtime.py): the regional rules are read from
the config folder then, not on a first request, and the read side shares the store's one bounded
case cache."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.config import Settings
from adapter.read.fhir_view import FhirView
from adapter.rules_config import RULES_FILE
from adapter.runtime import Runtime, build_runtime
from tests.support.holdings_seed import EXAMPLE_CASE, load_holdings


def test_the_rules_are_read_at_start_up(settings: Settings, runtime: Runtime) -> None:
    assert runtime.rules is not None and runtime.rules.agreement.name == "lagen"
    load_holdings(runtime)
    (settings.config_dir / RULES_FILE).unlink()  # read already: the running adapter needs it no more
    with TestClient(create_app(runtime=runtime)) as client:
        reply = client.get(f"/cases/{EXAMPLE_CASE}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["betalningsansvar"]["agreement"] == "lagen"


def test_without_a_rules_file_the_case_views_answer_503_naming_it(settings: Settings) -> None:
    (settings.config_dir / RULES_FILE).unlink()
    runtime = build_runtime(settings)
    try:
        assert runtime.rules is None
        load_holdings(runtime)
        with TestClient(create_app(runtime=runtime)) as client:
            for path in (f"/cases/{EXAMPLE_CASE}", f"/cases/{EXAMPLE_CASE}/timeline", "/dashboard"):
                reply = client.get(path)
                assert reply.status_code == 503, path
                assert RULES_FILE in reply.text, path
            # What needs no rules answers as ever: messages, FHIR search, metrics.
            assert client.get("/fhir/Encounter").json()["total"] >= 1
            assert client.get("/metrics").status_code == 200
    finally:
        runtime.store.engine.dispose()


def test_the_case_cache_is_one_bounded_by_the_setting(settings: Settings) -> None:
    runtime = build_runtime(settings.model_copy(update={"case_cache_size": 2}))
    try:
        load_holdings(runtime)  # the example case and four finished stays
        cache = runtime.store.cases
        assert cache.size == 2 and runtime.fhir_view.cache is cache
        held = runtime.holdings.cases(None)
        assert len(held) == 5 and len(cache) == 2
        for h in held:
            runtime.fhir_view.resources(h)
        assert len(cache) == 2
    finally:
        runtime.store.engine.dispose()


def test_a_case_is_rendered_once_per_version_and_again_when_it_changes(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_holdings(runtime)
    rendered: list[tuple[str, bool]] = []
    real = FhirView._render

    def counting(self: FhirView, held: Any, sees_details: bool) -> Any:
        rendered.append((held.row.case_id, sees_details))
        return real(self, held, sees_details)

    monkeypatch.setattr(FhirView, "_render", counting)

    def read(sees_details: bool = True) -> dict[str, Any]:
        held = runtime.holdings.case(EXAMPLE_CASE)
        assert held is not None
        return runtime.fhir_view.resources(held, sees_details)

    first = read()
    assert read() is first and rendered == [(EXAMPLE_CASE, True)]
    read(sees_details=False)  # a reader who may not see protected details gets its own rendering
    assert rendered == [(EXAMPLE_CASE, True), (EXAMPLE_CASE, False)]
    with runtime.store.transaction() as conn:  # a new version of the case (as a message makes)
        case = runtime.store.load_case(conn, EXAMPLE_CASE)
        assert case is not None
        runtime.store.save_case(conn, case, [], 0.0, created=False)
    read()
    assert rendered[-1] == (EXAMPLE_CASE, True) and len(rendered) == 3
