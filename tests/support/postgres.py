"""Fresh PostgreSQL databases on the test server (LUS_TEST_POSTGRES_DSN), also for bench/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def sqlalchemy_url(dsn: str) -> str:
    return (
        dsn.replace("postgresql://", "postgresql+psycopg://", 1) if dsn.startswith("postgresql://") else dsn
    )


@contextmanager
def fresh_postgres_database(server_dsn: str, prefix: str = "lus_test") -> Iterator[str]:
    """A new empty database on a PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server_url = sqlalchemy_url(server_dsn)
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
