"""adapter/process/ is pure: it imports nothing of the web, FHIR models, HTTP or the database, nothing
else of the adapter, and reads no clock of its own (time is passed in). Checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from adapter.config import PROJECT_ROOT

PROCESS = PROJECT_ROOT / "adapter" / "process"
MODULES = sorted(PROCESS.glob("*.py"))
# Standard library only, and of that nothing that does I/O or tells the time.
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "math",
    "typing",
    "zoneinfo",
}
CLOCKS = {"now", "utcnow", "today"}  # datetime.now() and friends; the time module is not allowed


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_process_module_is_checked() -> None:
    assert {m.stem for m in MODULES} >= {"case", "events", "deadlines", "measures", "betalningsansvar"}


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_process_imports_only_the_standard_library_and_itself(module: Path) -> None:
    foreign = {
        name
        for name in _imports(ast.parse(module.read_text(encoding="utf-8")))
        if not name.startswith("adapter.process") and name.split(".")[0] not in ALLOWED
    }
    assert not foreign, f"{module.name} imports {sorted(foreign)}"


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_process_reads_no_clock(module: Path) -> None:
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCKS
    ]
    assert not calls, f"{module.name} calls {calls}: pass the time in instead"


def test_the_checks_catch_a_forbidden_import() -> None:
    tree = ast.parse(
        "import httpx\nfrom fhir.resources.R4B import patient\nfrom adapter.store import store\n"
    )
    assert _imports(tree) == {"httpx", "fhir.resources.R4B", "adapter.store"}
