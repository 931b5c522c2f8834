"""What one validation run carries: the issues found, the Bundle that references resolve in,
and which resources have been checked against which profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import MAX_ISSUES, Issue, Severity
from adapter.validation.resolver import Resolver

# Issues one run collects at most: more than an answer lists (MAX_ISSUES, after duplicates are
# removed), few enough that a body built to break a rule everywhere costs little memory.
_COLLECTED = 10 * MAX_ISSUES


class ProfileChecker(Protocol):
    """A compiled profile as a run checks a resource against it (checkers.ObjectChecker)."""

    @property
    def profile(self) -> str: ...

    def check(self, value: Any, path: str, ctx: Context) -> None: ...


class Context:
    __slots__ = ("done", "env", "index", "issues", "message", "planned", "resolver", "resource", "root")

    def __init__(
        self, resolver: Resolver[ProfileChecker], index: BundleIndex | None = None, *, message: bool = False
    ) -> None:
        self.resolver = resolver
        self.index = index
        self.message = message  # a message Bundle: every reference must resolve inside it
        self.issues: list[Issue] = []
        self.env = resolver.env  # FHIRPath %variables: identifier systems by NamingSystem
        self.done: dict[int, set[str]] = {}  # id(resource) → profiles it was checked against
        self.planned: dict[int, Sequence[ProfileChecker]] = {}  # id(resource) → profiles to check it with
        # FHIRPath %resource and %rootResource: the resource being checked and, for a contained
        # one, the resource that contains it
        self.resource: dict[str, Any] | None = None
        self.root: dict[str, Any] | None = None

    def add(
        self, severity: Severity, code: str, message: str, expression: str, rule: str, profile: str | None
    ) -> None:
        if len(self.issues) < _COLLECTED:
            self.issues.append(Issue(severity, code, message, expression, rule, profile))

    def check_resource(self, checker: ProfileChecker, resource: dict[str, Any], path: str) -> None:
        """Check a resource against a profile once, however many references lead to it."""
        seen = self.done.setdefault(id(resource), set())
        if checker.profile in seen:
            return
        seen.add(checker.profile)
        self._as_resource(checker, resource, path)

    def trial(self, checker: ProfileChecker, resource: dict[str, Any], path: str) -> list[Issue]:
        """The issues `resource` would get against `checker`, without recording them."""
        kept, self.issues = self.issues, []
        try:
            self._as_resource(checker, resource, path)
            return self.issues
        finally:
            self.issues = kept

    def _as_resource(self, checker: ProfileChecker, resource: dict[str, Any], path: str) -> None:
        """Checked as FHIRPath's %resource and, unless contained, %rootResource: every resource is
        checked through here (a Bundle's entries, contained ones, what a reference leads to)."""
        kept = self.resource, self.root
        self.resource = resource
        if self.root is None or not path.rpartition(".")[2].startswith("contained"):
            self.root = resource
        try:
            checker.check(resource, path, self)
        finally:
            self.resource, self.root = kept
