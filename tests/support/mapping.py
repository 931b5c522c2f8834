"""The project's mapping rules compiled once, and an addressing for rendering to the kommun."""

from __future__ import annotations

from functools import cache

from adapter.config import PROJECT_ROOT
from adapter.mapping.engine import Mapper
from adapter.mapping.outbound import Addressing
from tests.support.parties import KOMMUN
from tests.support.validation_messages import lus_validator

TO = Addressing(KOMMUN, "http://127.0.0.1:9/kommun", "http://127.0.0.1:9/fhir/$process-message", "test")


@cache
def mapper() -> Mapper:
    return Mapper.from_dir(PROJECT_ROOT / "mappings", lus_validator().package)
