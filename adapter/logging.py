"""structlog configuration: JSON lines, a correlation id per message, and no patient data.

The masking processor is the last line of defence: code should never log a name or number,
but if it does, the value never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

# 12- or 10-digit personnummer/samordningsnummer, with or without separator. Digits glued to a
# letter are part of an id such as an HSA-id (SE2321000131-P000000123456), which is not personal.
_PNR = re.compile(r"(?<![A-Za-z\d])(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")
# Keys whose values are personal data whatever they hold.
_PERSONAL_KEYS = frozenset(
    {"name", "family", "given", "address", "line", "patient", "personnummer", "pnr", "identifier", "text"}
)


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        value = event_dict[key]
        if key in _PERSONAL_KEYS:
            event_dict[key] = "[masked]"
        elif isinstance(value, str):
            event_dict[key] = _PNR.sub("[pnr]", value)
        elif isinstance(value, dict | list | tuple):
            event_dict[key] = _PNR.sub("[pnr]", repr(value))
    return event_dict


# Where database errors come from: their text may quote the values of a statement (PostgreSQL's
# "DETAIL: Key (case_id)=(…) already exists", SQLAlchemy's "[parameters: …]"), which can be
# patient data. Engines hide their parameters (adapter/store/engine.py); this hides the rest.
_DATABASE_MODULES = ("sqlalchemy.exc", "psycopg", "sqlite3", "alembic")


def hide_database_values(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception from the database is logged with its type, SQLSTATE and where it was raised
    (the traceback's frames), never with its text."""
    exc_info = event_dict.get("exc_info")
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc: BaseException | None = sys.exc_info()[1]
    elif isinstance(exc_info, BaseException):
        exc = exc_info
    else:
        exc = exc_info[1]
    chain = list(_chain(exc))
    if not any(type(e).__module__.startswith(_DATABASE_MODULES) for e in chain):
        return event_dict
    del event_dict["exc_info"]
    parts = []
    for e in reversed(chain):
        kind = f"{type(e).__module__}.{type(e).__qualname__}"
        if type(e).__module__.startswith(_DATABASE_MODULES):
            sqlstate = getattr(getattr(e, "diag", None), "sqlstate", None) or getattr(e, "sqlstate", None)
            text = (
                f"{kind}: SQLSTATE {sqlstate or '?'} (the database's text is not logged: it may quote values)"
            )
        else:
            text = f"{kind}: {e}"
        parts.append(
            "Traceback (most recent call last):\n" + "".join(traceback.format_tb(e.__traceback__)) + text
        )
    event_dict["exception"] = "\n\nThen:\n\n".join(parts)
    return event_dict


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            hide_database_values,
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
