"""The FHIR package for download: profiles/ as the NPM package other FHIR tools load
(package/package.json, the resources, and the .index.json the package spec describes)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import orjson

from adapter.validation.package import load_package

# A fixed time in the archive: the same profiles give the same bytes.
MTIME = 0


def package_tgz(profiles_dir: Path) -> bytes:
    """package.tgz of the package folder (a .tgz is passed on as it is)."""
    if profiles_dir.is_file():
        return profiles_dir.read_bytes()
    load_package(profiles_dir)  # refuses a folder that is not a package, as the adapter does
    files: dict[str, bytes] = {"package/package.json": (profiles_dir / "package.json").read_bytes()}
    index: list[dict[str, Any]] = []
    for path in sorted(profiles_dir.glob("*.json")):
        if path.name == "package.json":
            continue
        raw = path.read_bytes()
        resource = orjson.loads(raw)
        if not isinstance(resource, dict) or "resourceType" not in resource:
            continue
        files[f"package/{path.name}"] = raw
        entry = {"filename": path.name, "resourceType": resource["resourceType"], "id": resource.get("id")}
        for key in ("url", "version", "kind", "type"):
            if key in resource:
                entry[key] = resource[key]
        index.append(entry)
    files["package/.index.json"] = orjson.dumps(
        {"index-version": 1, "files": index}, option=orjson.OPT_INDENT_2
    )
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=MTIME) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), MTIME, 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
