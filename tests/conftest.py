from __future__ import annotations

import copy
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from adapter.config import PROJECT_ROOT, Settings
from adapter.runtime import Runtime, build_runtime

EXAMPLES = PROJECT_ROOT / "examples"
# The adapter has no default configuration: the tests (and the processes they start, which inherit
# the environment) run with the repository's example, named here as a deployment names its own.
os.environ.setdefault("LUS_CONFIG_DIR", str(EXAMPLES / "config"))
os.environ.setdefault("LUS_EXAMPLES_DIR", str(EXAMPLES / "bundles"))
# Official HL7 FHIR R4 examples (CC0), copied into the repository: see tests/data/r4-examples/README.md.
CONFORMANCE = Path(__file__).resolve().parent / "data" / "r4-examples"
SELF = "TSTNMT2321000156-SV41"
VARDCENTRAL = "TSTNMT2321000156-VC01"
KOMMUN = "TSTNMT2321000156-K1480"
# LUS.md "Test identities": the test personnummer every test and example draws from.
TEST_PERSONNUMMER = (
    "191212121212",
    "201212121212",
    "195009072553",
    "196101182803",
    "199002222397",
    "198507099805",
)


def load_example(name: str) -> dict[str, Any]:
    return orjson.loads((EXAMPLES / "bundles" / name).read_bytes())


def fresh_copy(bundle: dict[str, Any]) -> dict[str, Any]:
    """The same message content under new Bundle and MessageHeader ids."""
    copy_ = copy.deepcopy(bundle)
    copy_["id"] = str(uuid.uuid4())
    copy_["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return copy_


def write_routing(
    config_dir: Path,
    endpoints: dict[str, str],
    base_url: str = "http://127.0.0.1:8080/fhir",
    more_parties: Sequence[dict[str, Any]] = (),
) -> Path:
    """The example config folder (routing table, LUS rules, step table) with each party's endpoint
    replaced (and `more_parties` added) in the routing table."""
    data = yaml.safe_load((EXAMPLES / "config" / "parties.yaml").read_text(encoding="utf-8"))
    data["self"]["base_url"] = base_url
    data["parties"] += list(more_parties)
    for party in data["parties"]:
        party["endpoint"] = endpoints.get(party["hsa_id"], party["endpoint"])
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("lus-rules.yaml", "lus-steps.yaml"):
        if not (config_dir / name).exists():
            shutil.copy(EXAMPLES / "config" / name, config_dir / name)
    (config_dir / "parties.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config_dir


def _postgres_url(dsn: str) -> str:
    return (
        dsn.replace("postgresql://", "postgresql+psycopg://", 1) if dsn.startswith("postgresql://") else dsn
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("LUS_TEST_POSTGRES_DSN is not set: PostgreSQL tests skipped")
    return _postgres_url(dsn)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards."""
    with fresh_postgres_database(postgres_server_url) as url:
        yield url


@contextmanager
def fresh_postgres_database(server_dsn: str, prefix: str = "lus_test") -> Iterator[str]:
    """A new empty database on a PostgreSQL server (also for bench/), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server_url = _postgres_url(server_dsn)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
