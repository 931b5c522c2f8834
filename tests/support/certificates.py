"""Test certificates made by the example's own script (examples/tls/make_certificates.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adapter.config import PROJECT_ROOT


def make_certificates(folder: Path, parties: tuple[str, ...] | None = None) -> Path:
    spec = importlib.util.spec_from_file_location(
        "make_certificates", PROJECT_ROOT / "examples" / "tls" / "make_certificates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.make_certificates(folder, *([parties] if parties else [])))
