"""The repository's example (config folder and bundles) as the tests use it, and the copied
conformance material."""

from __future__ import annotations

import copy
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from adapter.config import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples"
# Official HL7 FHIR R4 examples (CC0), copied into the repository: see tests/data/r4-examples/README.md.
CONFORMANCE = Path(__file__).resolve().parents[1] / "data" / "r4-examples"


def load_example(name: str) -> dict[str, Any]:
    return orjson.loads((EXAMPLES / "bundles" / name).read_bytes())


def fresh_copy(bundle: dict[str, Any]) -> dict[str, Any]:
    """The same message content under new Bundle and MessageHeader ids."""
    copy_ = copy.deepcopy(bundle)
    copy_["id"] = str(uuid.uuid4())
    copy_["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return copy_


def write_routing(
    config_dir: Path,
    endpoints: dict[str, str],
    base_url: str = "http://127.0.0.1:8080/fhir",
    more_parties: Sequence[dict[str, Any]] = (),
) -> Path:
    """The example config folder (routing table, LUS rules, step table) with each party's endpoint
    replaced (and `more_parties` added) in the routing table."""
    data = yaml.safe_load((EXAMPLES / "config" / "parties.yaml").read_text(encoding="utf-8"))
    data["self"]["base_url"] = base_url
    data["parties"] += list(more_parties)
    for party in data["parties"]:
        party["endpoint"] = endpoints.get(party["hsa_id"], party["endpoint"])
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("lus-rules.yaml", "lus-steps.yaml"):
        if not (config_dir / name).exists():
            shutil.copy(EXAMPLES / "config" / name, config_dir / name)
    (config_dir / "parties.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config_dir
