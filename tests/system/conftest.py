"""Everything here runs the product as deployed (`lus-adapter serve` processes, several adapters
over mutual TLS, a browser): marked `system`, so `pytest -m "not system"` is the fast suite."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.system)
