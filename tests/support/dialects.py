"""The example's dialect sequences and a runtime whose parties speak them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml

from adapter.config import Settings
from adapter.runtime import Runtime, build_runtime
from tests.support.examples import EXAMPLES
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL


def sequence(dialect: str) -> list[tuple[str, dict[str, Any]]]:
    folder = EXAMPLES / "bundles" / dialect
    return [(p.name, orjson.loads(p.read_bytes())) for p in sorted(folder.glob("*.json"))]


def dialect_runtime(settings: Settings, inbound: str) -> Iterator[Runtime]:
    """The hospital beside the adapter sends in `inbound`; the vårdcentral is sent transactions,
    the kommun Communications."""
    path = Path(settings.config_dir) / "parties.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    dialects = {
        SELF: {"inbound": inbound, "outbound": "canonical"},
        VARDCENTRAL: "transaction",
        KOMMUN: "communication",
    }
    for party in data["parties"]:
        party["dialect"] = dialects[party["hsa_id"]]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rt = build_runtime(settings)
    yield rt
    rt.store.engine.dispose()
