"""Vendor the HL7 validator's own test cases (`FHIR/fhir-test-cases`, public domain) that the
conformance runner scores against: `python -m bench.conformance_cases <checkout>/validator`.

The selection rule (also in tests/conformance/fhir-test-cases/README.md): a case of
`validator/manifest.json` is kept when
  1. it validates R4 (`version` 4.0 or 4.0.1) JSON (`file` ends in .json) and is not switched off;
  2. its set-up needs nothing beyond the R4 core package: no option but name, file, version,
     module, the expected outcomes and their descriptions (no supporting files, profiles, packages,
     logical models, fetchers, policy switches);
  3. its module is none of tx, tx-advanced (terminology), json5, matchetype, cdshooks, shc, logical,
     cda (other syntaxes or models), dsig, security, api, xver, package-versioning (checks beyond
     the structure of one R4 instance);
  4. the Java validator's expected outcome has no issue from a terminology server (the extension
     operationoutcome-issue-server) and cites no definition from a package other than R4 core.
It writes the cases, the Java outcomes and a manifest of the selection beside them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from adapter.config import PROJECT_ROOT

OUT = PROJECT_ROOT / "tests" / "conformance" / "fhir-test-cases"
SETUP_KEYS = {
    "name", "file", "version", "module", "description", "explanation", "documentation", "comment",
    "java", "firely-sdk-current", "firely-sdk-wip", "brianpos", "dotnet-brianpos",
}  # fmt: skip
OTHER_MODULES = {
    "tx", "tx-advanced", "json5", "matchetype", "cdshooks", "shc", "logical", "cda", "dsig",
    "security", "api", "xver", "package-versioning",
}  # fmt: skip
TX_SERVER = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-server"
CONTEXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-context"


def _outcome_path(case: dict[str, Any]) -> str | None:
    java = case.get("java")
    if isinstance(java, dict):
        java = java.get("outcome")
    return java if isinstance(java, str) else None


def _beyond_core(outcome: dict[str, Any]) -> bool:
    for issue in outcome.get("issue", []):
        for ext in issue.get("extension", []):
            if ext.get("url") == TX_SERVER:
                return True
            context = str(ext.get("valueString", "")) if ext.get("url") == CONTEXT else ""
            if "|" in context and not context.endswith("|4.0.1"):
                return True
        if "ballot" in str(issue.get("details", {}).get("text", "")):
            return True
    return False


def select(source: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    chosen = []
    for case in manifest["test-cases"]:
        if str(case.get("version", "")) not in ("4.0", "4.0.1") or not case["file"].endswith(".json"):
            continue
        if case.get("use-test") is False or set(case) - SETUP_KEYS or case.get("module") in OTHER_MODULES:
            continue
        path = _outcome_path(case)
        if path is None or not (source / "outcomes" / path).is_file():
            continue
        outcome = json.loads((source / "outcomes" / path).read_text(encoding="utf-8"))
        if not _beyond_core(outcome):
            chosen.append((case, outcome))
    return chosen


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("python -m bench.conformance_cases <fhir-test-cases>/validator <commit>")
    source, commit = Path(argv[0]), argv[1]
    chosen = select(source)
    for sub in ("cases", "outcomes"):
        shutil.rmtree(OUT / sub, ignore_errors=True)
        (OUT / sub).mkdir(parents=True)
    entries = []
    for case, outcome in chosen:
        shutil.copyfile(source / case["file"], OUT / "cases" / case["file"])
        name = Path(str(_outcome_path(case))).name
        (OUT / "outcomes" / name).write_text(json.dumps(outcome, indent=1) + "\n", encoding="utf-8")
        entries.append(
            {"name": case["name"], "file": case["file"], "module": case.get("module"), "outcome": name}
        )
    manifest = {"source": "https://github.com/FHIR/fhir-test-cases", "commit": commit, "cases": entries}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(entries)} cases from {source} @ {commit} into {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
