"""The joint sign-off (Skåne's practice, docs/signoff.md): the unit's ställningstagande för
utskrivning, and each other party's answer to it — an approval, or a comment, which approves
nothing until the same party approves after it. Pure data; the case (case.py) holds one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Answer:
    party: str  # HSA-id of the answering party
    approved: bool
    at: datetime
    comment: str | None = None


@dataclass(frozen=True, kw_only=True)
class Signoff:
    stallningstagande: str  # message id of the ställningstagande in force
    sent_at: datetime
    answers: tuple[Answer, ...] = ()  # in event-time order

    def answered(self, answer: Answer) -> Signoff:
        return replace(self, answers=(*self.answers, answer))

    def latest(self) -> dict[str, Answer]:
        """Each party's last answer: a later comment withdraws an earlier approval."""
        return {a.party: a for a in self.answers}

    def approved_by(self) -> frozenset[str]:
        return frozenset(party for party, a in self.latest().items() if a.approved)
