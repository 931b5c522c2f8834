"""The schema through Alembic: migrations and schema.py agree, old databases are brought up,
production refuses a schema that is behind, `lus-adapter db` does what it says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from adapter.store import migrate, schema
from adapter.store.engine import create_store_engine
from adapter.store.store import Store


def test_the_migrations_build_exactly_the_schema_in_schema_py(database_url: str) -> None:
    store = Store.from_url(database_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
        assert migrate.current_revision(conn) == migrate.head_revision()
    store.engine.dispose()


def test_a_database_made_before_migrations_is_stamped_and_upgraded_keeping_its_rows(
    database_url: str,
) -> None:
    engine = create_store_engine(database_url)
    migrate.upgrade(engine, migrate.BASELINE)  # the skeleton's tables, as create_all made them
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO outbox (message_id, source_message_id, case_id, recipient, endpoint, kind,"
                " body, status, attempts, next_attempt_at, created_at) VALUES ('m1', 's1', 'c1', 'r',"
                " 'http://127.0.0.1:9/', 'inskrivningsmeddelande', :body, 'dead', 3, 1234.0, 1000.0)"
            ),
            {"body": b"{}"},
        )
    engine.dispose()
    store = Store.from_url(database_url)
    with store.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
        row = conn.execute(select(schema.outbox)).one()
    assert (row.message_id, row.status, row.dead_at, row.replay_count) == ("m1", "dead", 1234.0, 0)
    store.engine.dispose()


def test_without_migrate_on_start_a_schema_behind_is_refused(database_url: str) -> None:
    engine = create_store_engine(database_url)
    migrate.upgrade(engine, migrate.BASELINE)
    engine.dispose()
    with pytest.raises(migrate.SchemaOutOfDate, match="lus-adapter db upgrade"):
        Store.from_url(database_url, migrate=False)
    Store.from_url(database_url).engine.dispose()
    Store.from_url(database_url, migrate=False).engine.dispose()  # at head now: starts


def test_downgrade_to_the_baseline_and_back(database_url: str) -> None:
    from alembic import command

    engine = create_store_engine(database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), migrate.BASELINE)
    with engine.connect() as conn:
        assert "kvittens_code" not in {c["name"] for c in inspect(conn).get_columns("outbox")}
    assert migrate.upgrade(engine) == (migrate.BASELINE, migrate.head_revision())
    engine.dispose()


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUS_DATABASE_URL": database_url, "LUS_DATABASE_MIGRATE_ON_START": "false"}
    return subprocess.run(
        [sys.executable, "-m", "adapter", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_lus_adapter_db_upgrade_and_current(database_url: str) -> None:
    behind = _cli("db", "current", database_url=database_url)
    assert behind.returncode == 1 and "database: (none)" in behind.stdout
    refused = _cli("deadletters", "list", database_url=database_url)
    assert refused.returncode != 0 and "lus-adapter db upgrade" in refused.stderr
    done = _cli("db", "upgrade", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert f"(empty) → {migrate.head_revision()}" in done.stderr
    again = _cli("db", "upgrade", database_url=database_url)
    assert "already at" in again.stderr
    current = _cli("db", "current", database_url=database_url)
    assert current.returncode == 0
    assert _cli("deadletters", "list", database_url=database_url).returncode == 0


def test_lus_adapter_db_upgrade_sql_prints_the_ddl_for_a_dba(tmp_path: object) -> None:
    result = _cli("db", "upgrade", "--sql", database_url="postgresql+psycopg://dba@127.0.0.1/none")
    assert result.returncode == 0, result.stderr
    assert (
        "CREATE TABLE outbox" in result.stdout
        and "ALTER TABLE outbox ADD COLUMN kvittens_code" in result.stdout
        and "CREATE TRIGGER audit_append_only" in result.stdout
    )
