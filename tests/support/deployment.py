"""The example deployments (examples/k8s, examples/compose.yaml) read as documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.examples import EXAMPLES

K8S = EXAMPLES / "k8s"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def adapter_container() -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = next(d for d in documents(K8S / "deployment.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return pod, next(c for c in pod["containers"] if c["name"] == "lus-adapter")


def compose() -> dict[str, Any]:
    return documents(EXAMPLES / "compose.yaml")[0]
