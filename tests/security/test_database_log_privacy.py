"""The database layer never logs the values of a statement: SQLAlchemy's "[parameters: …]" is off
on every engine, and the database's own error text (PostgreSQL quotes the key of a unique
violation) is left out of logged exceptions; their type, SQLSTATE and frames remain."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from adapter.logging import configure_logging, get_logger
from adapter.runtime import Runtime
from adapter.store import schema
from adapter.store.store import _CASE_INSERT

# A value that must not reach a log: a test patient's name and personnummer (LUS.md).
PATIENT_VALUE = "Tolvan Tolvansson 191212121212"


def case_row(case_id: str) -> dict[str, object]:
    return {"case_id": case_id, "state": "inskriven", "version": 1, "created_at": 0.0, "updated_at": 0.0}


def test_engines_hide_bound_parameters(runtime: Runtime) -> None:
    assert runtime.store.engine.hide_parameters


@pytest.mark.parametrize("through", ["sqlalchemy", "driver"])
def test_a_database_error_is_logged_without_the_values(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], through: str
) -> None:
    store = runtime.store
    with store.transaction() as conn:
        conn.execute(insert(schema.cases).values(case_row(PATIENT_VALUE)))
    configure_logging("info", json=True)
    log = get_logger("test")
    capsys.readouterr()
    with pytest.raises(Exception) as raised, store.transaction() as conn:
        if through == "sqlalchemy":
            conn.execute(insert(schema.cases).values(case_row(PATIENT_VALUE)))
        else:  # the prepared statements every message runs, on the driver's cursor
            _CASE_INSERT.execute(conn, case_row(PATIENT_VALUE))
    assert "Tolvansson" in str(raised.value) or store.is_sqlite  # PostgreSQL quotes the key back
    try:
        raise RuntimeError("while saving a case") from raised.value
    except RuntimeError:
        log.exception("unhandled error")
    written = capsys.readouterr().err
    assert "unhandled error" in written and ("Integrity" in written or "UniqueViolation" in written), written
    assert "Tolvan" not in written and "191212121212" not in written and "[parameters:" not in written
    assert "SQLSTATE" in written and "while saving a case" in written
    if not store.is_sqlite:
        assert "SQLSTATE 23505" in written
