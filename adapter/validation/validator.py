"""The validator: a package loaded once at start-up, run per message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapter.validation.bundle import BundleIndex
from adapter.validation.issues import Issue
from adapter.validation.message import check_message
from adapter.validation.package import FhirPackage, load_package
from adapter.validation.structure import check_structure
from adapter.validation.terminology import Terminology


class Validator:
    def __init__(self, package: FhirPackage) -> None:
        self.package = package
        self.terminology = Terminology.from_package(package)

    @classmethod
    def from_path(cls, path: Path) -> Validator:
        return cls(load_package(path))

    def validate_message(self, bundle: dict[str, Any], index: BundleIndex | None = None) -> list[Issue]:
        """All issues of a message Bundle: base structure first, then LUS message rules."""
        issues = check_structure(bundle, path="Bundle")
        if any(i.blocking for i in issues):
            return issues
        return issues + check_message(bundle, index or BundleIndex(bundle), self.terminology)

    def validate_resource(self, resource: dict[str, Any]) -> list[Issue]:
        return check_structure(resource)
