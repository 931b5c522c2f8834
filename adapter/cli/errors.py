"""Configuration mistakes said in a line or two, with what to do, instead of a traceback.

Only what a user can put wrong (settings, files, the database URL, a missing optional extra) is
translated; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, OperationalError

from adapter.config import ConfigDirMissing
from adapter.mapping.rules import MappingError
from adapter.mapping.template import TemplateError
from adapter.routing.table import RoutingError
from adapter.rules_config import RulesConfigError
from adapter.store.migrate import SchemaOutOfDate
from adapter.validation.package import PackageError

# What `pip install` needs for a driver module the database URL asks for.
DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres", "psycopg_binary": "postgres"}

EXIT_CONFIGURATION = 2


class ConfigurationError(Exception):
    """A mistake in the configuration: `problem`, and `hint` (what to do), one line each."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.hint = problem, hint


def explain(exc: BaseException) -> ConfigurationError | None:
    """The configuration mistake behind `exc`, or None if it is not one."""
    if isinstance(exc, ConfigurationError):
        return exc
    if isinstance(exc, ConfigDirMissing):
        return ConfigurationError(str(exc))
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in DRIVER_EXTRAS:
        extra = DRIVER_EXTRAS[(exc.name or "").split(".")[0]]
        return ConfigurationError(
            f"LUS_DATABASE_URL names a PostgreSQL database, but its driver ({exc.name}) is not installed",
            f"install the optional extra: pip install 'lus-adapter[{extra}]' (in the checkout:"
            f" .venv/bin/pip install -e '.[{extra}]')",
        )
    if isinstance(exc, ArgumentError):
        return ConfigurationError(
            f"LUS_DATABASE_URL is not a database URL: {_first_line(exc)}",
            "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/database",
        )
    if isinstance(exc, OperationalError):
        return ConfigurationError(
            f"cannot open the database: {_first_line(exc.orig or exc)}",
            "check LUS_DATABASE_URL (server running? database created? file's folder writable?)",
        )
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        errors = exc.errors()
        where = ", ".join(f"LUS_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in errors[:3])
        return ConfigurationError(f"invalid setting {where}", "see docs/configuration.md")
    if isinstance(exc, yaml.YAMLError):
        return ConfigurationError(f"a configuration file is not valid YAML: {_first_line(exc)}")
    if isinstance(exc, RoutingError | RulesConfigError | MappingError | TemplateError | PackageError):
        return ConfigurationError(_first_line(exc, lines=2))
    if isinstance(exc, SchemaOutOfDate):
        return ConfigurationError(_first_line(exc), "run `lus-adapter db upgrade`")
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError | IsADirectoryError):
        name = exc.filename or _first_line(exc)
        return ConfigurationError(
            f"{exc.strerror or type(exc).__name__}: {name}",
            "check the LUS_*_DIR settings (docs/configuration.md) and the paths given",
        )
    return None


def run_explaining(command: Callable[[], object]) -> None:
    """Run the CLI; a configuration mistake ends it with two lines on stderr and exit code 2."""
    try:
        command()
    except Exception as exc:
        mistake = explain(exc)
        if mistake is None:
            raise
        sys.stderr.write(f"lus-adapter: error: {mistake.problem}\n")
        if mistake.hint:
            sys.stderr.write(f"  {mistake.hint}\n")
        sys.exit(EXIT_CONFIGURATION)


def _first_line(exc: BaseException | object, lines: int = 1) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in text[:lines]) or type(exc).__name__


def missing_database_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (opening it would create it)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # said by whoever opens it
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    return None if path.exists() else path


def require_database(url: str) -> None:
    """For commands that only read: a SQLite file that does not exist is a wrong path, not an
    empty store (opening it would create one and report zeros)."""
    path = missing_database_file(url)
    if path is not None:
        raise ConfigurationError(
            f"no database at {path} (LUS_DATABASE_URL={url})",
            "set LUS_DATABASE_URL to the adapter's database (`lus-adapter db upgrade`, `serve` or"
            " `import` create one)",
        )
