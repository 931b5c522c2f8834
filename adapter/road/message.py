"""A message on the road: what the steps have learnt of it so far, and the answer it gets.

Every step has the one signature `Step`: it reads and fills in the `Message`, and either returns
None (the next step goes on), returns the `Result` (the answer; the road ends there), or raises
`Rejected` (a 4xx OperationOutcome; the runner audits it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.mapping.dialects import Translation
from adapter.process.case import DischargeCase
from adapter.process.events import Event
from adapter.routing.table import PartyConfig
from adapter.security.patient import MessagePatient
from adapter.store.store import NewOutboxItem


@dataclass(frozen=True)
class Result:
    status: int
    body: bytes  # a response message Bundle or an OperationOutcome, as JSON
    duplicate: bool = False
    case_id: str | None = None


@dataclass
class Message:
    raw: bytes
    caller: str | None  # the authenticated party (None: a local command speaks for the sender)
    bundle: dict[str, Any] = field(default_factory=dict)  # parse; canonical after translate in
    translation: Translation | None = None  # translate in: a dialect message as the canonical one
    header: dict[str, Any] | None = None  # dedupe: the MessageHeader, if the Bundle starts with one
    index: BundleIndex | None = None  # validate
    issues: list[Issue] = field(default_factory=list)  # warnings the answer carries
    event: Event | None = None  # map in: the event as received (an audit record names it)
    patient: MessagePatient | None = None  # map in
    # The write: apply, route, render, persist (all again if the case moved meanwhile).
    now: float = 0.0
    copy: bool = False  # a copy another party's adapter made and routed already
    filed: Event | None = None  # apply: the event as its case files it
    case: DischargeCase | None = None  # apply: the case before the event (None: it opens one)
    version: int | None = None  # apply: the case's row version that `case` is
    next_case: DischargeCase | None = None  # apply: the case with the event
    recipients: list[PartyConfig] = field(default_factory=list)  # route
    late: Issue | None = None  # route: the case was closed before the event
    outbox: list[NewOutboxItem] = field(default_factory=list)  # render: one per recipient
    response: bytes = b""  # render: the answer once the message is durable

    @property
    def accepted(self) -> tuple[BundleIndex, Event, DischargeCase]:
        """What apply has made of the message: its index, its filed event and the case after it."""
        assert self.index is not None and self.filed is not None and self.next_case is not None
        return self.index, self.filed, self.next_case


class Step(Protocol):
    def __call__(self, message: Message) -> Result | None: ...
