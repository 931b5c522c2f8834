"""`lus-adapter serve` starts over HTTPS and mutual TLS with the settings of the deployment examples
(examples/compose.yaml, examples/k8s/): the CLI as a process, not uvicorn in the test, so that a
conflict among its start-up options (once: `uvicorn.run() got multiple values for keyword argument
'http'`) fails here."""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.certificates import make_certificates
from tests.support.deployment import adapter_container, compose
from tests.support.examples import EXAMPLES
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("pki"))


def compose_settings(pki: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """adapter-sv's environment and the files it mounts, as paths on this machine."""
    service = compose()["services"]["adapter-sv"]
    files = {}
    for volume in service["volumes"]:
        source, target, _ = volume.split(":")
        files[target] = pki if source == "./tls/out" else EXAMPLES / source
    return {k: str(v) for k, v in service["environment"].items()}, files


def k8s_settings(pki: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """The k8s adapter container's environment and what its secrets and config map hold."""
    _, container = adapter_container()
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    files = {
        "/etc/lus/tls/tls.crt": pki / "server.pem",
        "/etc/lus/tls/tls.key": pki / "server.key",
        "/etc/lus/tls/ca.crt": pki / "ca.pem",
        "/etc/lus/client-tls/tls.crt": pki / "TSTNMT2321000156-K1480.pem",
        "/etc/lus/client-tls/tls.key": pki / "TSTNMT2321000156-K1480.key",
        **{f"/etc/lus/config/{p.name}": p for p in (EXAMPLES / "k8s" / "config").glob("*.yaml")},
    }
    return env, files


def local_env(env: dict[str, str], files: dict[str, Path], folder: Path, port: int) -> dict[str, str]:
    """The container's settings with its paths made files in `folder`, and a port of this test."""
    config = folder / "config"
    config.mkdir()
    folders = {dst: src for dst, src in files.items() if src.is_dir()}  # a mounted folder
    local = {}
    for name, value in env.items():
        parent = str(Path(value).parent)
        if name == "LUS_CONFIG_DIR":
            value = str(config)
        elif value in files:
            value = str(files[value])
        elif parent in folders:
            value = str(folders[parent] / Path(value).name)
        local[name] = value
    for target, source in files.items():
        if Path(target).parent == Path(env["LUS_CONFIG_DIR"]):
            shutil.copy(source, config / Path(target).name)
    return {
        **local,
        "LUS_HOST": "127.0.0.1",
        "LUS_PORT": str(port),
        "LUS_DATABASE_URL": f"sqlite:///{folder / 'lus.db'}",
        "LUS_AUDIT_KEY": secrets.token_hex(32),
    }


@pytest.fixture(params=["compose", "k8s"])
def served(
    request: pytest.FixtureRequest, pki: Path, tmp_path: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    env, files = (compose_settings if request.param == "compose" else k8s_settings)(pki)
    assert env["LUS_AUTH_MODE"] == "mtls" and env["LUS_TLS_CERT_FILE"]
    port = free_port()
    environment = local_env(env, files, tmp_path, port)
    table = yaml.safe_load((Path(environment["LUS_CONFIG_DIR"]) / "parties.yaml").read_text("utf-8"))
    with (tmp_path / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "adapter", "serve"],
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"https://127.0.0.1:{port}", table["self"]["hsa_id"], proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_starts_over_mutual_tls_with_the_deployment_examples_settings(
    served: tuple[str, str, subprocess.Popen[bytes]], pki: Path, tmp_path: Path
) -> None:
    base, party, proc = served
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / f"{party}.pem", pki / f"{party}.key")
    with httpx.Client(verify=context, timeout=2) as client:

        def ready() -> bool:
            if proc.poll() is not None:  # it could not start: say why
                raise AssertionError((tmp_path / "serve.log").read_text("utf-8", errors="replace")[-3000:])
            try:
                return client.get(f"{base}/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "serve to answer over HTTPS")
        assert client.get(f"{base}/fhir/Encounter").status_code == 200  # the certificate names the party
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with httpx.Client(verify=anonymous, timeout=5) as client:
        assert client.get(f"{base}/fhir/Encounter").status_code == 401  # no certificate, no party
