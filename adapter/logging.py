"""structlog configuration: JSON lines, a correlation id per message, and no patient data.

The masking processor is the last line of defence: code should never log a name or number,
but if it does, the value never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
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
