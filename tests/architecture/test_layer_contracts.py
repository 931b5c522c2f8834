"""The layer contracts in pyproject.toml (import-linter, run by `make lint`) hold for the tree, and
a forbidden import breaks them: the architecture table of docs/architecture.md is executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the `adapter` package under `root`, with the contracts in its pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def append(module: Path, line: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package's Python sources and of pyproject.toml."""

    def not_python(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()} | {
            "__pycache__"
        }

    shutil.copytree(PROJECT_ROOT / "adapter", tmp_path / "adapter", ignore=not_python)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_pure_core_importing_the_store_breaks_the_layers(tree: Path) -> None:
    append(tree / "adapter" / "process" / "case.py", "from adapter.store import store as _store")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "adapter.process is not allowed to import adapter.store" in result.stdout


def test_an_import_cycle_between_packages_breaks_the_lint(tree: Path) -> None:
    append(tree / "adapter" / "store" / "schema.py", "from adapter.validation import valuesets as _valuesets")
    append(tree / "adapter" / "validation" / "valuesets.py", "from adapter.store import schema as _schema")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "No cycles are allowed in adapter" in result.stdout


def test_a_module_placed_in_no_layer_breaks_the_lint(tree: Path) -> None:
    (tree / "adapter" / "stray.py").write_text('"""A module the architecture table does not name."""\n')
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "stray" in result.stdout
