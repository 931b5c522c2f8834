"""What a validation run asks of the compiled profiles: the checker a resource, a meta.profile or
an extension URL names. The Compiler answers (it compiles every profile at start-up, so a run only
looks them up); the run-time checkers know this interface, not the compiler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

Checker = TypeVar("Checker", covariant=True)


class Resolver(Protocol[Checker]):
    @property
    def env(self) -> dict[str, Any]:
        """FHIRPath %variables: identifier systems by NamingSystem."""
        ...

    @property
    def unknown_modifier_extensions(self) -> str:
        """reject | warn: what an undefined modifier extension gets."""
        ...

    def element_checker(self) -> Checker:
        """The R4 Element: the id and extensions of a primitive value."""
        ...

    def resource(self, type_name: str) -> Checker | None:
        """The base checker of a concrete resource type, or None."""
        ...

    def extension(self, url: str) -> Checker | None:
        """The definition of a loaded extension, or None."""
        ...

    def claimed_profiles(self, resource: dict[str, Any]) -> Sequence[Checker]:
        """The loaded profiles a resource claims or R4 implies for it."""
        ...
