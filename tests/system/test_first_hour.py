"""What a newcomer meets first, run as they run it: `serve` on a port of their choice saying where
it listens, configuration mistakes said in two lines, read commands that do not invent an empty
store, `python -m bench --help`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from adapter.config import PROJECT_ROOT, Settings
from tests.support.examples import EXAMPLES
from tests.support.processes import FHIR, wait_until

pytestmark = pytest.mark.slow


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def started_line(log: Path, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    """The "adapter started" log line, once it is written."""
    found: dict[str, object] = {}

    def written() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        for line in log.read_text().splitlines():
            if '"adapter started"' in line:
                found.update(orjson.loads(line))
                return True
        return False

    wait_until(written, 60, "the adapter started line")
    return found


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "adapter", "serve", "--no-worker", *args],
            cwd=tmp_path,
            env={**os.environ, "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'lus.db'}", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def test_serve_on_a_port_of_its_own_says_where_it_listens_and_advertises_that_address(tmp_path: Path) -> None:
    proc, log = serve(tmp_path, "--port", "0")  # the operating system picks the port
    try:
        line = started_line(log, proc)
        url = str(line["url"])
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":8080")
        # "started" is said once the port is bound: the first request made on reading it is answered.
        metadata = httpx.get(f"{url}/fhir/metadata", timeout=5)
        assert metadata.status_code == 200
        statement = metadata.json()
        assert statement["implementation"]["url"] == f"{url}/fhir" == line["fhir_base"]
        endpoints = [e["address"] for m in statement["messaging"] for e in m["endpoint"]]
        assert endpoints == [f"{url}/fhir/$process-message"]
        answer = httpx.post(
            f"{url}/fhir/$process-message",
            content=(EXAMPLES / "bundles" / "inskrivningsmeddelande.json").read_bytes(),
            headers=FHIR,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        header = answer.json()["entry"][0]["resource"]
        assert header["source"]["endpoint"] == f"{url}/fhir/$process-message"
    finally:
        stop(proc)


def test_a_base_url_in_parties_yaml_is_advertised_as_configured(tmp_path: Path) -> None:
    # Behind a proxy the address others use is not the one bound: configured, it wins.
    data = yaml.safe_load((EXAMPLES / "config" / "parties.yaml").read_text(encoding="utf-8"))
    data["self"]["base_url"] = "https://lus.example.invalid/fhir"
    shutil.copytree(EXAMPLES / "config", tmp_path / "config")
    (tmp_path / "config" / "parties.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    proc, log = serve(tmp_path, "--port", "0", env={"LUS_CONFIG_DIR": str(tmp_path / "config")})
    try:
        url = str(started_line(log, proc)["url"])
        statement = httpx.get(f"{url}/fhir/metadata", timeout=5).json()
        assert statement["implementation"]["url"] == "https://lus.example.invalid/fhir"
    finally:
        stop(proc)


def test_the_readme_and_makefile_say_how_to_choose_the_port() -> None:
    assert "make run PORT=" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8090"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert "lus-adapter serve --port 8090" in dry.stdout


def _bad_yaml_config(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "parties.yaml").write_text("self: [hsa_id: x\n", encoding="utf-8")
    return {"LUS_CONFIG_DIR": str(tmp_path / "config")}


MISTAKES = {
    "postgres without the extra": (
        lambda tmp: {
            "LUS_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none",
            "BLOCK_PSYCOPG": "1",
        },
        "pip install 'lus-adapter[postgres]'",
    ),
    "not a database url": (lambda tmp: {"LUS_DATABASE_URL": "postgres@somewhere"}, "not a database URL"),
    "bad yaml": (_bad_yaml_config, "parties.yaml"),
    "missing config folder": (
        lambda tmp: {"LUS_CONFIG_DIR": str(tmp / "nowhere")},
        "nowhere/parties.yaml does not exist",
    ),
    "missing profiles": (lambda tmp: {"LUS_PROFILES_DIR": str(tmp / "nowhere")}, "not a FHIR package folder"),
    "not a number": (lambda tmp: {"LUS_MAX_BODY_BYTES": "lots"}, "LUS_MAX_BODY_BYTES"),
}

# Runs the CLI with psycopg made unimportable, as in an installation without the `postgres` extra.
WITHOUT_PSYCOPG = (
    "import os, sys\n"
    "if os.environ.get('BLOCK_PSYCOPG'): sys.modules['psycopg'] = None\n"
    "from adapter.cli import main\n"
    "sys.argv[0] = 'lus-adapter'\n"
    "main()\n"
)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_configuration_mistake_is_said_in_two_lines_with_what_to_do(tmp_path: Path, mistake: str) -> None:
    make_env, expected = MISTAKES[mistake]
    env = {**os.environ, "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'lus.db'}", **make_env(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, "serve", "--port", "0", "--no-worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("lus-adapter: error: "), result.stderr
    assert expected in result.stderr


def test_a_port_already_taken_is_said_with_how_to_choose_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(
            "serve",
            "--port",
            str(port),
            "--no-worker",
            cwd=tmp_path,
            env={"LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'lus.db'}"},
        )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_the_default_database_is_the_same_file_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'lus-adapter.db'}"


@pytest.mark.parametrize(
    "command",
    [
        ["deadletters", "list"],
        ["outbox", "unacknowledged"],
        ["report", "--from", "2026-01-01", "--to", "2026-01-31"],
    ],
)
def test_reading_a_database_that_is_not_there_says_so_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    result = cli(*command, cwd=tmp_path, env={"LUS_DATABASE_URL": "sqlite:///var/lus-adapter.db"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no database at {tmp_path / 'var' / 'lus-adapter.db'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


def test_db_current_on_a_database_that_is_not_there_says_none_and_creates_nothing(tmp_path: Path) -> None:
    result = cli("db", "current", cwd=tmp_path, env={"LUS_DATABASE_URL": "sqlite:///var/lus-adapter.db"})
    assert result.returncode == 1
    assert "database: (none)" in result.stdout
    assert f"no database file at {tmp_path / 'var' / 'lus-adapter.db'}" in result.stderr
    assert not (tmp_path / "var").exists()


def test_bench_help_prints_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m bench")
    assert "ingest" in result.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "bench", "nonsense"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "unknown benchmark nonsense" in wrong.stderr


def test_make_run_as_the_readme_says_starts_an_adapter_that_answers(tmp_path: Path) -> None:
    # The README's first command, in this checkout (.ci/run runs the suite in a fresh clone with
    # nothing beside it): it installs, starts, says where it listens and answers there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "make-run.log"
    env = {**os.environ, "LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'lus.db'}", "LUS_WORKER": "false"}
    with log.open("ab") as out:
        make = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and the adapter it starts: one group, stopped together
        )
    try:
        line = started_line(log, make)
        assert line["url"] == f"http://127.0.0.1:{port}"
        statement = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=5).json()
        assert statement["implementation"]["url"] == f"http://127.0.0.1:{port}/fhir"
        assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)


@pytest.mark.parametrize(
    ("folder", "config", "steps"),
    [
        ("canonical", "config", 13),
        ("transaction", "config-dialects/transaction", 6),
        ("communication", "config-dialects/communication", 6),
    ],
)
def test_play_posts_a_whole_example_case_each_step_as_its_sender(
    tmp_path: Path, folder: str, config: str, steps: int
) -> None:
    proc, log = serve(tmp_path, "--port", "0", env={"LUS_CONFIG_DIR": str(EXAMPLES / config)})
    try:
        url = str(started_line(log, proc)["url"])
        played = cli("play", str(EXAMPLES / "bundles" / folder), "--url", url, cwd=tmp_path)
        assert played.returncode == 0, played.stdout + played.stderr
        lines = played.stdout.splitlines()
        assert len(lines) == steps and all(" 200 " in line for line in lines), played.stdout
        if folder == "canonical":  # the steps the vårdcentral and the kommun send went as them
            assert any("TSTNMT2321000156-VC01" in line for line in lines)
            assert any("TSTNMT2321000156-K1480" in line for line in lines)
        else:  # a dialect's unread context is one warning per answer, not one per element
            assert all(line.endswith("(1 warning(s))") for line in lines), played.stdout
    finally:
        stop(proc)
