"""Outbound rendering stays byte-identical: every canonical example rendered against its stored output.

Regenerate deliberately (after an intended change of the templates) with
`LUS_GOLDEN_WRITE=1 pytest tests/mapping/test_render_golden.py`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from adapter.config import PROJECT_ROOT
from adapter.fhir.bundle import BundleIndex
from adapter.mapping import outbound
from adapter.process.case import DischargeCase
from tests.support.mapping import TO, mapper

EXAMPLES = sorted((PROJECT_ROOT / "examples" / "bundles").glob("canonical*/*.json"))
GOLDEN = Path(__file__).parents[1] / "golden"


def _rendered(example: Path) -> str:
    """The example read in and rendered out again, for the case its directory opens."""
    opening = example.parent / "01-inskrivningsmeddelande.json"
    first, _ = mapper().to_event("canonical", BundleIndex(json.loads(opening.read_text())))
    event, _ = mapper().to_event("canonical", BundleIndex(json.loads(example.read_text())))
    bundle = mapper().to_bundle(event, TO, DischargeCase.open(first))
    return json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_rendering_an_example_gives_the_stored_bundle(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Bundle's own id is random; fixed here so the rest can be compared byte for byte.
    monkeypatch.setattr(outbound, "random_uuid", lambda: str(uuid.UUID(int=0)))
    golden = GOLDEN / f"{example.parent.name}--{example.name}"
    rendered = _rendered(example)
    if os.environ.get("LUS_GOLDEN_WRITE"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()
