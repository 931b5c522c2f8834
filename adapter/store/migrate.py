"""Schema migrations (Alembic), run from code: at start-up for SQLite and development, by
`lus-adapter db upgrade` as a deployment step in production.

Several replicas starting at once on one PostgreSQL take an advisory lock, so exactly one of
them migrates and the others find the schema at head; on SQLite BEGIN IMMEDIATE does the same.
"""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the schema metadata.create_all made before migrations existed
_LOCK_KEY = 0x1A5_0DB  # pg_advisory_xact_lock key: "lus db"


class SchemaOutOfDate(Exception):
    """The database is not at the revision this adapter needs."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to `revision`; (revision before, revision after)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        before = current_revision(conn)
        cfg = alembic_config(conn)
        if before is None and inspect(conn).has_table("outbox"):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
        after = current_revision(conn)
    return before, after


def upgrade_sql(url: str, revision: str = "head") -> str:
    """The SQL an upgrade from nothing would run, for a DBA to read or run by hand."""
    cfg = alembic_config(url=url)
    out = io.StringIO()
    cfg.output_buffer = out
    command.upgrade(cfg, revision, sql=True)
    return out.getvalue()


def check_at_head(engine: Engine) -> None:
    with engine.connect() as conn:
        current = current_revision(conn)
    head = head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or '(none)'}, this adapter needs {head}:"
            " run `lus-adapter db upgrade` (or set LUS_DATABASE_MIGRATE_ON_START=true)."
        )


def new_revision(engine: Engine, message: str) -> str:
    """Write a migration for what schema.py has that the database (at head) lacks."""
    rev_id = f"{int(head_revision()) + 1:04d}"
    with engine.begin() as conn:
        cfg = alembic_config(conn)
        script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(s.path for s in scripts if s is not None)
