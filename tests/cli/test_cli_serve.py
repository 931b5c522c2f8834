"""`lus-adapter serve`: its flags override the LUS_* settings only when given."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter.cli import app as cli


class _BoundSocket:
    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 8080)


class _App:
    state = SimpleNamespace(runtime=None)


@pytest.fixture(autouse=True)
def collector_as_usual() -> Iterator[None]:
    """`serve` freezes the heap it starts with; the rest of the test session collects as usual."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize(
    ("env", "flags", "worker"),
    [
        ("false", [], False),
        ("true", [], True),
        ("false", ["--worker"], True),
        ("true", ["--no-worker"], False),
    ],
)
def test_serve_runs_the_worker_as_lus_worker_says_unless_a_flag_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, env: str, flags: list[str], worker: bool
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setenv("LUS_WORKER", env)
    monkeypatch.setattr(
        "adapter.app.create_app", lambda settings: (served.setdefault("settings", settings), _App())[1]
    )
    monkeypatch.setattr("adapter.serving.bind", lambda host, port: _BoundSocket())
    monkeypatch.setattr("adapter.serving.run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", *flags])
    assert result.exit_code == 0, result.output
    assert served["settings"].worker is worker


def test_serve_puts_its_start_up_objects_out_of_the_collectors_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[int] = []
    monkeypatch.setattr("adapter.app.create_app", lambda settings: _App())
    monkeypatch.setattr("adapter.serving.bind", lambda host, port: _BoundSocket())
    monkeypatch.setattr("adapter.serving.run", lambda *args, **kwargs: frozen.append(gc.get_freeze_count()))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert frozen and frozen[0] > 0  # frozen before serving the first request


def test_serve_without_a_configuration_folder_says_in_one_line_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LUS_CONFIG_DIR", raising=False)
    monkeypatch.setattr("adapter.serving.bind", lambda host, port: pytest.fail("bound without configuration"))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "LUS_CONFIG_DIR" in line and "--config-dir" in line and "examples/config" in line


def test_serve_takes_the_configuration_folder_as_a_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.delenv("LUS_CONFIG_DIR", raising=False)
    monkeypatch.setattr(
        "adapter.app.create_app", lambda settings: (served.setdefault("settings", settings), _App())[1]
    )
    monkeypatch.setattr("adapter.serving.bind", lambda host, port: _BoundSocket())
    monkeypatch.setattr("adapter.serving.run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["serve", "--config-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert served["settings"].config_dir == tmp_path
