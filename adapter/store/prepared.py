"""The statements every message runs, compiled once for the database and run on the driver's own
cursor.

SQLAlchemy builds, caches and processes every execution, several times the driver's own cost, and
a message runs ten statements (bench/results/README.md has the figures). The statements stay
SQLAlchemy expressions (one source for SQLite and PostgreSQL); only their execution skips the
machinery. JSON values are serialized here, as the column type would have done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Dialect
from sqlalchemy.sql.expression import Executable


class Prepared:
    def __init__(self, statement: Executable, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = columns  # for an INSERT: the columns given, in any order
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, conn: Connection, values: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
        """Run with `values` (or each of a list of them); the driver's cursor, for fetching."""
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = _Compiled(
                self.statement, conn.dialect, self.columns
            )
        rows = [values] if isinstance(values, Mapping) else values
        params = [compiled.params(row) for row in rows]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if len(params) == 1:
            cursor.execute(compiled.sql, params[0])
        else:
            cursor.executemany(compiled.sql, params)
        return cursor


class _Compiled:
    """SQL text in the driver's parameter style, and how to lay out the parameters for it."""

    def __init__(self, statement: Executable, dialect: Dialect, columns: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)  # type: ignore[attr-defined]
        self.sql = str(compiled)
        self.positions = tuple(compiled.positiontup) if compiled.positiontup else None
        binds = compiled.binds.items()
        self.json_names = frozenset(name for name, bind in binds if isinstance(bind.type, JSON))
        self.fixed = {name: bind.value for name, bind in binds if not bind.required}  # e.g. LIMIT 1

    def params(self, row: Mapping[str, Any]) -> Any:
        if self.json_names:
            row = {k: (_json(v) if k in self.json_names else v) for k, v in row.items()}
        if self.fixed:
            row = {**self.fixed, **row}
        return row if self.positions is None else tuple(row[name] for name in self.positions)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def json_value(stored: Any) -> Any:
    """A JSON column as read by the driver: text on SQLite, already parsed on PostgreSQL."""
    return orjson.loads(stored) if isinstance(stored, str | bytes) else stored
