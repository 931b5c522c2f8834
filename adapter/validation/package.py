"""Loading a FHIR package folder (package.json + conformance resources) into memory."""

from __future__ import annotations

import tarfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


class PackageError(Exception):
    """A package folder that cannot be read; raised at start-up, never per request."""


@dataclass
class FhirPackage:
    """The conformance resources of one package, by type and by canonical URL."""

    name: str
    canonical: str
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_url: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, resource: dict[str, Any]) -> None:
        self.by_type[resource["resourceType"]].append(resource)
        url = resource.get("url")
        if isinstance(url, str):
            self.by_url[url] = resource

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        return self.by_type.get(resource_type, [])


def load_package(path: Path) -> FhirPackage:
    """Read a package from a folder or a .tgz as published by FHIR tooling."""
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        return _load_tgz(path)
    manifest_path = path / "package.json"
    if not manifest_path.is_file():
        raise PackageError(f"{path} is not a FHIR package folder: package.json is missing")
    manifest = _read_json(manifest_path)
    package = FhirPackage(name=manifest.get("name", path.name), canonical=manifest.get("canonical", ""))
    for file in sorted(path.rglob("*.json")):
        if file.name in ("package.json", ".index.json"):
            continue
        resource = _read_json(file)
        if isinstance(resource, dict) and "resourceType" in resource:
            package.add(resource)
    return package


def _load_tgz(path: Path) -> FhirPackage:
    with tarfile.open(path, "r:gz") as archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile() and m.name.endswith(".json")}
        manifest_member = members.get("package/package.json")
        if manifest_member is None:
            raise PackageError(f"{path} has no package/package.json")
        manifest = _parse(archive.extractfile(manifest_member), path)
        package = FhirPackage(name=manifest.get("name", path.name), canonical=manifest.get("canonical", ""))
        for name, member in sorted(members.items()):
            if name.endswith(("package.json", ".index.json")):
                continue
            resource = _parse(archive.extractfile(member), path)
            if isinstance(resource, dict) and "resourceType" in resource:
                package.add(resource)
    return package


def _read_json(file: Path) -> Any:
    try:
        return orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise PackageError(f"{file}: not valid JSON ({exc})") from exc


def _parse(stream: Any, origin: Path) -> Any:
    if stream is None:
        raise PackageError(f"{origin}: unreadable member")
    try:
        return orjson.loads(stream.read())
    except orjson.JSONDecodeError as exc:
        raise PackageError(f"{origin}: member is not valid JSON ({exc})") from exc


def load_packages(path: Path, extra: Path | None = None) -> FhirPackage:
    """Our package, with the conformance resources of every package folder or .tgz in `extra`
    (a regional team's own profiles, identifier systems and codes) added to it."""
    package = load_package(path)
    if extra is None:
        return package
    if not extra.is_dir():
        raise PackageError(f"{extra} is not a folder of FHIR packages")
    for candidate in sorted(extra.iterdir()):
        if (candidate / "package.json").is_file() or candidate.name.endswith((".tgz", ".tar.gz")):
            for resources in load_package(candidate).by_type.values():
                for resource in resources:
                    package.add(resource)
    return package
