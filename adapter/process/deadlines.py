"""LUS deadlines of one case, computed from its event times with the clock passed in.

- inskrivningsmeddelande: within 24 hours (configured) of admission;
- kallelse till SIP: within 3 calendar days (configured) after utskrivningsklar, when both region and
  municipality services are needed — counted from the first notice that was not withdrawn before
  its deadline ran out;
- utskrivningsmeddelande: at the latest on the (Swedish calendar) day of discharge.

The patient's death closes the case and every deadline still open at that moment: a message not
yet due when the patient died is no longer owed (one already overdue then stays missed).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from adapter.process.case import CaseState, DischargeCase, ReadyPeriod
from adapter.process.events import Event, KallelseTillSip, Utskrivningsmeddelande
from adapter.process.kalender import (
    after,
    day_end,
    day_start,
    instant,
    local_day,
    local_time,
    next_weekday,
)
from adapter.process.rules import DeadlineRules, ProcessRules

INSKRIVNING = "inskrivningsmeddelande"
KALLELSE = "kallelse-sip"
UTSKRIVNING = "utskrivningsmeddelande"


class DeadlineStatus(enum.StrEnum):
    MET = "met"  # sent on time
    LATE = "late"  # sent, after the due time
    OVERDUE = "overdue"  # not sent, due time passed
    OPEN = "open"  # not sent, still time


@dataclass(frozen=True, kw_only=True)
class Deadline:
    kind: str  # the LUS event code of the message that must be sent
    since: datetime  # the moment the clock started: admission, utskrivningsklar, discharge
    due: datetime  # sent from this moment on is late (for "on the day": midnight after that day)
    met_at: datetime | None  # when it was sent
    sender: str | None  # HSA-id of the unit that sent it (or is expected to), if known
    message_id: str | None  # the message that met it, if sent
    late: bool  # sent, but counted after `due` (cut-off rules included)
    overdue: bool  # not sent and `due` has passed, at the `now` it was computed for

    @property
    def status(self) -> DeadlineStatus:
        if self.met_at is not None:
            return DeadlineStatus.LATE if self.late else DeadlineStatus.MET
        return DeadlineStatus.OVERDUE if self.overdue else DeadlineStatus.OPEN


def deadlines(case: DischargeCase, now: datetime, rules: ProcessRules | DeadlineRules) -> list[Deadline]:
    """Every deadline of the case, met or open, each with its due time, as seen at `now`."""
    if case.state is CaseState.MAKULERAD:
        return []
    found = [_inskrivning(case, now, _deadline_rules(rules))]
    kallelse = _kallelse(case, now, _deadline_rules(rules))
    if kallelse is not None:
        found.append(kallelse)
    utskrivning = _utskrivning(case, now)
    if utskrivning is not None:
        found.append(utskrivning)
    if case.died_at is not None:
        died = instant(case.died_at)
        found = [d for d in found if d.met_at is not None or instant(d.due) <= died]
    return found


def _deadline_rules(rules: ProcessRules | DeadlineRules) -> DeadlineRules:
    return rules.deadlines if isinstance(rules, ProcessRules) else rules


def _deadline(
    kind: str,
    since: datetime,
    due: datetime,
    now: datetime,
    sent: Event | None,
    counted_at: datetime | None = None,
) -> Deadline:
    met_at = sent.occurred_at if sent is not None else None
    counted = counted_at or met_at
    return Deadline(
        kind=kind,
        since=since,
        due=due,
        met_at=met_at,
        sender=sent.sender if sent is not None else None,
        message_id=sent.message_id if sent is not None else None,
        late=counted is not None and instant(counted) >= instant(due),
        overdue=met_at is None and instant(now) >= instant(due),
    )


def _inskrivning(case: DischargeCase, now: datetime, rules: DeadlineRules) -> Deadline:
    due = after(case.admitted_at, rules.inskrivning_within)
    return _deadline(INSKRIVNING, case.admitted_at, due, now, case.events[0])


def _kallelse(case: DischargeCase, now: datetime, rules: DeadlineRules) -> Deadline | None:
    if not case.needs_region_and_municipality:
        return None
    sent = _current(case, KallelseTillSip, case.kallelse_at)
    period = _kallelse_period(case, rules, sent)
    if period is None:
        return None
    due = _kallelse_due(period, rules)
    counted_at = None
    cutoff = rules.kallelse_cutoff
    if sent is not None and cutoff is not None and local_time(sent.occurred_at) >= cutoff:
        counted_at = day_start(next_weekday(local_day(sent.occurred_at)))
    deadline = _deadline(KALLELSE, period.start, due, now, sent, counted_at)
    if sent is None and case.patient.vardcentral:
        # The fast vårdkontakt at the patient's vårdcentral calls the SIP.
        return replace(deadline, sender=case.patient.vardcentral)
    return deadline


def _kallelse_due(period: ReadyPeriod, rules: DeadlineRules) -> datetime:
    return day_end(local_day(period.start) + timedelta(days=rules.kallelse_within_days))


def _kallelse_period(case: DischargeCase, rules: DeadlineRules, sent: Event | None) -> ReadyPeriod | None:
    """The ready period the kallelse is counted from: the first not withdrawn before its deadline.

    A period that ends before its deadline ends either with an återtag (the notice no longer holds)
    or with the discharge or death (the last period: the SIP may still be held after discharge).
    """
    periods = case.ready_periods
    for index, period in enumerate(periods):
        closed_by_case_end = index == len(periods) - 1 and case.state in (
            CaseState.UTSKRIVEN,
            CaseState.AVLIDEN,
        )
        end = instant(period.end) if period.end is not None else None
        withdrawn_early = end is not None and end < instant(_kallelse_due(period, rules))
        if sent is not None and end is not None and instant(sent.occurred_at) <= end:
            return period
        if not withdrawn_early or closed_by_case_end:
            return period
    return None


def _utskrivning(case: DischargeCase, now: datetime) -> Deadline | None:
    if case.discharged_at is None:
        return None
    sent = _current(case, Utskrivningsmeddelande, None)
    return _deadline(UTSKRIVNING, case.discharged_at, day_end(local_day(case.discharged_at)), now, sent)


def _current(case: DischargeCase, kind: type[Event], at: datetime | None) -> Event | None:
    """The first event of a kind that is not cancelled (at the given time, if one is given)."""
    for event in case.events:
        current = isinstance(event, kind) and event.message_id not in case.cancelled
        if current and (at is None or event.occurred_at == at):
            return event
    return None
