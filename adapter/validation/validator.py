"""The validator: packages loaded and profiles compiled once at start-up, run per message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.logging import get_logger
from adapter.validation.compiler import Compiler
from adapter.validation.context import Context
from adapter.validation.message import check_message, header_profiles, message_bundle_profiles
from adapter.validation.package import FhirPackage, PackageError, load_packages
from adapter.validation.r4 import load_core
from adapter.validation.terminology import Terminology

log = get_logger("adapter.validation")


class Validator:
    def __init__(self, package: FhirPackage, *, unknown_modifier_extensions: str = "reject") -> None:
        self.package = package
        self.terminology = Terminology.from_package(package)
        self.compiler = Compiler(
            load_core(), package, self.terminology, unknown_modifier_extensions=unknown_modifier_extensions
        )
        self.compiler.compile_all()
        for (source, key), why in sorted(self.compiler.not_run().items()):
            log.warning("invariant_not_run", invariant=key, definition=source, why=why)
        self.headers = header_profiles(self.compiler)
        self.message_bundles = message_bundle_profiles(self.compiler) or [self.compiler.base("Bundle")]

    @classmethod
    def from_path(
        cls, path: Path, extra_packages: Path | None = None, *, unknown_modifier_extensions: str = "reject"
    ) -> Validator:
        """Our package folder (or .tgz), plus every package folder or .tgz in `extra_packages`."""
        return cls(
            load_packages(path, extra_packages), unknown_modifier_extensions=unknown_modifier_extensions
        )

    def validate_message(self, bundle: dict[str, Any], index: BundleIndex | None = None) -> list[Issue]:
        """All issues of a message Bundle: the LUS message profiles for its event, R4 base structure,
        every reference resolved inside the Bundle and checked against its target profiles.

        Identifier systems that are aliases are normalised in place (with a warning)."""
        index = index or BundleIndex(bundle)
        ctx = Context(self.compiler, index, message=True)
        gate, headers = check_message(bundle, index, self.headers)
        if gate:
            ctx.check_resource(self.compiler.base("Bundle"), bundle, "Bundle")
            said = {issue.rule for issue in gate}  # bdl-12 said by the gate where it is wrong
            return _unique([i for i in ctx.issues if i.rule not in said] + gate)
        assert index.header is not None
        ctx.planned[id(index.header.resource)] = headers
        for checker in self.message_bundles:
            ctx.check_resource(checker, bundle, "Bundle")
        return _unique(ctx.issues)

    def validate_resource(self, resource: dict[str, Any], profile: str | None = None) -> list[Issue]:
        """Issues of one resource against a profile (canonical URL), or else the profiles in its
        meta.profile that are loaded, or else the R4 base."""
        rtype = resource.get("resourceType")
        root = rtype if isinstance(rtype, str) else "Resource"
        ctx = Context(self.compiler, BundleIndex(resource) if rtype == "Bundle" else None)
        if profile is None:
            self.compiler.resources.check(resource, root, ctx)
            return _unique(ctx.issues)
        try:
            checker = self.compiler.profile(profile)
        except PackageError:
            return [
                Issue(
                    "error",
                    "not-supported",
                    f"Profile {profile} is not among the {len(self.profiles())} profiles loaded"
                    " (profiles_dir and extra_packages_dir).",
                    root,
                    "profile-unknown",
                )
            ]
        ctx.check_resource(checker, resource, root)
        return _unique(ctx.issues)

    def validate(self, resource: dict[str, Any], profile: str | None = None) -> list[Issue]:
        """What `$validate` and `lus-adapter validate` do: a message Bundle without a profile as a
        message, anything else as a resource."""
        message = resource.get("resourceType") == "Bundle" and resource.get("type") == "message"
        if profile is None and message:
            return self.validate_message(resource)
        return self.validate_resource(resource, profile)

    def profiles(self) -> list[str]:
        return sorted(self.compiler.definitions)


def _unique(issues: list[Issue]) -> list[Issue]:
    """One issue per (severity, element, rule): a resource met through two references is one finding."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for issue in issues:
        key = (issue.severity, issue.code, issue.expression, issue.rule)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out
