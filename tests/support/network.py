"""The network of three as `make network` runs it (examples/network.py), loaded as a module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

import pytest

from tests.support.examples import EXAMPLES
from tests.support.postgres import fresh_postgres_database


def _network_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lus_network", EXAMPLES / "network.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lus_network"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


net = _network_module()


@contextmanager
def running_network(
    request: pytest.FixtureRequest, folder_name: str, database: str, **options: Any
) -> Iterator[Any]:
    """The three adapters running on the store the fixture's parameter names: SQLite, or a fresh
    PostgreSQL database per adapter (named after `database`)."""
    folder = request.getfixturevalue("tmp_path_factory").mktemp(f"{folder_name}-{request.param}")
    with ExitStack() as stack:
        urls = None
        if request.param == "postgresql":
            server = request.getfixturevalue("postgres_server_url")
            urls = {h: stack.enter_context(fresh_postgres_database(server, database)) for h in net.PARTIES}
        yield stack.enter_context(net.Network(folder, urls, **options).running())
