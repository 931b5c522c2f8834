"""`Rejected`: input refused with a 4xx OperationOutcome. Every exception that carries issues for an
answer derives from it, so whoever answers catches one type and reads `status` and `issues`."""

from __future__ import annotations

from collections.abc import Sequence

from adapter.fhir.issues import Issue


class Rejected(Exception):
    """A client error: answered with `status` and an OperationOutcome of `issues`; nothing but an
    audit record is stored. A subclass names its usual status; `status=` overrides it."""

    status: int = 422

    def __init__(self, issues: Issue | Sequence[Issue], *, status: int | None = None) -> None:
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        super().__init__("; ".join(i.message for i in self.issues))
        if status is not None:
            self.status = status

    @property
    def issue(self) -> Issue:
        """The first issue (most rejections have one)."""
        return self.issues[0]
