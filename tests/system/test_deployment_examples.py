"""The deployment examples hold together: every variable they set is a setting, every file they
mount exists and loads, probes hit real endpoints, and the parties find each other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from adapter.app import create_app
from adapter.config import Settings
from adapter.routing.steps import load_step_table
from adapter.routing.table import load_routing_table
from adapter.rules_config import load_rules
from tests.support.deployment import EXAMPLES, K8S, adapter_container, compose, documents


def settings_names() -> set[str]:
    return {f"LUS_{name.upper()}" for name in Settings.model_fields}


def check_settings(names: set[str]) -> None:
    unknown = {n for n in names if n.startswith("LUS_")} - settings_names()
    assert not unknown, f"not settings of the adapter: {sorted(unknown)}"


def app_paths(tmp_path: Path) -> set[str]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", worker=False)
    return set(create_app(settings).openapi()["paths"])


# --- Kubernetes ---


def test_k8s_files_and_config_load() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    files = [K8S / f for g in kustomization["configMapGenerator"] for f in g["files"]]
    assert {f.name for f in files} == {"parties.yaml", "lus-steps.yaml", "lus-rules.yaml"}
    table = load_routing_table(K8S / "config")
    load_step_table(K8S / "config")
    assert table.party(table.self_.hsa_id) is not None
    assert load_rules(K8S / "config").agreement.name == "lagen"


def test_k8s_sidecar_probes_resources_and_mounted_certificates(tmp_path: Path) -> None:
    pod, adapter = adapter_container()
    assert len(pod["containers"]) == 2, "the adapter runs beside the party's system"
    env = {e["name"]: e.get("value") for e in adapter["env"]}
    ports = {p["name"]: p["containerPort"] for p in adapter["ports"]}
    assert str(ports["lus-https"]) == env["LUS_PORT"]

    paths = app_paths(tmp_path)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = adapter[probe]["httpGet"]
        assert get["path"] in paths and get["port"] in ports, probe
    assert adapter["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"requests", "limits"} <= set(adapter["resources"])
    assert adapter["securityContext"]["readOnlyRootFilesystem"] is True

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in adapter["volumeMounts"]}
    for name in (
        "LUS_TLS_CERT_FILE",
        "LUS_TLS_KEY_FILE",
        "LUS_TLS_CA_FILE",
        "LUS_TLS_CLIENT_CERT_FILE",
        "LUS_TLS_CLIENT_KEY_FILE",
    ):
        folder = str(Path(env[name]).parent)
        assert "secret" in mounts[folder], f"{name} is not on a secret-mounted volume"
    assert mounts[env["LUS_CONFIG_DIR"]]["configMap"]["name"] == "lus-adapter-config"

    service = documents(K8S / "service.yaml")[0]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)


def test_k8s_sets_only_settings_the_adapter_has() -> None:
    check_settings({e["name"] for e in adapter_container()[1]["env"]})


# --- docker compose: three parties and PostgreSQL ---


TLS_OUT = "./tls/out"
TLS_FILES = (
    "LUS_TLS_CERT_FILE",
    "LUS_TLS_KEY_FILE",
    "LUS_TLS_CA_FILE",
    "LUS_TLS_CLIENT_CERT_FILE",
    "LUS_TLS_CLIENT_KEY_FILE",
)


def adapters() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if name.startswith("adapter-")}


def test_compose_has_three_parties_and_postgresql() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert (EXAMPLES / services["adapter-sv"]["build"] / "Dockerfile").is_file()
    init = (EXAMPLES / "compose" / "postgres-init.sql").read_text(encoding="utf-8")
    created = set(re.findall(r"CREATE DATABASE (\w+);", init))
    self_ids = set()
    for name, service in adapters().items():
        check_settings(set(service["environment"]))
        database = urlparse(service["environment"]["LUS_DATABASE_URL"]).path.lstrip("/")
        assert database in created, name
        mounted = {}
        for volume in service["volumes"]:
            source, target, _mode = volume.split(":")
            if source == TLS_OUT:  # made by examples/tls/make_certificates.py, not committed
                assert all(Path(service["environment"][n]).parent == Path(target) for n in TLS_FILES), name
                continue
            assert (EXAMPLES / source).is_file(), source
            assert Path(target).parent.as_posix() == service["environment"]["LUS_CONFIG_DIR"], target
            mounted[Path(target).name] = EXAMPLES / source
        assert set(mounted) == {"parties.yaml", "lus-steps.yaml", "lus-rules.yaml"}, name
        table = load_routing_table(mounted["parties.yaml"].parent)
        load_step_table(mounted["lus-steps.yaml"].parent)
        assert load_rules(mounted["lus-rules.yaml"]).agreement.name == "lagen"
        self_ids.add(table.self_.hsa_id)
        for party in table.parties:
            host = urlparse(party.endpoint).hostname
            if party.hsa_id == table.self_.hsa_id:
                assert host not in compose()["services"], "a party's own system is not another adapter"
            else:
                assert host in adapters(), f"{name}: {party.hsa_id} is reached at {host}, no such adapter"
    assert len(self_ids) == 3, "one adapter per party"


# --- Prometheus alert rules ---


def test_alert_rules_are_well_formed() -> None:
    groups = documents(EXAMPLES / "alerts" / "lus-adapter.rules.yaml")[0]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) >= 5
    for rule in rules:
        assert rule["alert"] and rule["expr"] and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
