"""Fixtures only: the shared constants and helpers live in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.config import PROJECT_ROOT, Settings
from adapter.runtime import Runtime, build_runtime
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database, sqlalchemy_url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LUS_TEST_POSTGRES_DSN is not set: PostgreSQL tests skipped")
    return sqlalchemy_url(dsn)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards."""
    with fresh_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lus.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    config = write_routing(
        tmp_path / "config",
        {
            SELF: "http://127.0.0.1:9/none",
            VARDCENTRAL: "http://127.0.0.1:9/none",
            KOMMUN: "http://127.0.0.1:9/none",
        },
    )
    return Settings(database_url=database_url, config_dir=config, worker=False, log_json=True)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    rt.store.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _project_rules_compiled_once() -> Iterator[None]:
    """The project's own profiles and mapping rules compiled once per test session, not once per
    runtime (1.5 s each, in hundreds of tests): both are immutable once loaded, and no test edits
    them in place (tests that change rules copy them elsewhere, and those load afresh)."""
    from adapter.mapping.engine import Mapper
    from adapter.validation.validator import Validator

    load_validator, load_mapper = Validator.from_path, Mapper.from_dir
    validators: dict[Path, Validator] = {}
    mappers: dict[int, Mapper] = {}

    def validator(path: Path, extra_packages: Path | None = None, **options: Any) -> Validator:
        if (
            extra_packages is not None
            or Path(path) != PROJECT_ROOT / "profiles"
            or options.get("unknown_modifier_extensions", "reject") != "reject"
        ):
            return load_validator(path, extra_packages, **options)
        if path not in validators:
            validators[path] = load_validator(path)
        return validators[path]

    def mapper(mappings_dir: Path, package: Any) -> Mapper:
        shared = any(v.package is package for v in validators.values())
        if not shared or Path(mappings_dir) != PROJECT_ROOT / "mappings":
            return load_mapper(mappings_dir, package)
        if id(package) not in mappers:
            mappers[id(package)] = load_mapper(mappings_dir, package)
        return mappers[id(package)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Validator, "from_path", staticmethod(validator))
        patch.setattr(Mapper, "from_dir", staticmethod(mapper))
        yield
