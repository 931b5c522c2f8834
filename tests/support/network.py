"""The network of three as `make network` runs it (examples/network.py), loaded as a module."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.support.examples import EXAMPLES


def _network_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lus_network", EXAMPLES / "network.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lus_network"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


net = _network_module()
