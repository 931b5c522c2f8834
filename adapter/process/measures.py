"""Outcome measures over a period, as regions already track them.

- Share of utskrivningsklara patients discharged within 24 hours of being ready (Region Jönköping
  reported 74% for early 2018), and median and 90th percentile days from utskrivningsklar to
  discharge — for patients discharged in the period, counted from the ready period that ended with
  the discharge.
- Deadline compliance per message type and per sending unit, for deadlines due in the period.
- Planning meetings per site (Halland compares Halmstad and Varberg), for meetings held in the period.
- Needs-category mix of the cases whose stay overlaps the period.
- Liable days and amount per municipality and month.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapter.process.betalningsansvar import MunicipalityMonth, municipality_months
from adapter.process.case import CaseState, DischargeCase
from adapter.process.deadlines import DeadlineStatus, deadlines
from adapter.process.kalender import elapsed, local_day
from adapter.process.rules import ProcessRules

UNKNOWN = "okänd"
DAY = timedelta(days=1)


@dataclass
class Compliance:
    """Deadlines due in the period, by outcome."""

    met: int = 0
    late: int = 0
    overdue: int = 0
    open: int = 0

    @property
    def due(self) -> int:
        """Deadlines whose outcome is known: sent (on time or late) or missed."""
        return self.met + self.late + self.overdue

    @property
    def share_on_time(self) -> float | None:
        return self.met / self.due if self.due else None

    def count(self, status: DeadlineStatus) -> None:
        setattr(self, status.value, getattr(self, status.value) + 1)


@dataclass(frozen=True, kw_only=True)
class OutcomeMeasures:
    start: datetime
    end: datetime
    agreement: str
    discharged_after_ready: int  # patients discharged in the period after an utskrivningsklar
    discharged_within_24h: int
    median_days_ready_to_discharge: float | None
    p90_days_ready_to_discharge: float | None
    compliance_by_kind: dict[str, Compliance] = field(default_factory=dict)
    compliance_by_unit: dict[str, Compliance] = field(default_factory=dict)
    meetings_by_site: dict[str, int] = field(default_factory=dict)
    needs_mix: dict[str, int] = field(default_factory=dict)
    betalningsansvar: tuple[MunicipalityMonth, ...] = ()

    @property
    def share_within_24h(self) -> float | None:
        if not self.discharged_after_ready:
            return None
        return self.discharged_within_24h / self.discharged_after_ready


def outcome_measures(
    cases: Iterable[DischargeCase],
    start: datetime,
    end: datetime,
    rules: ProcessRules,
    now: datetime | None = None,
) -> OutcomeMeasures:
    """The measures for [start, end), with deadlines and open liability judged at `now` (default: end)."""
    cases = [c for c in cases if c.state is not CaseState.MAKULERAD]
    now = now or end
    ready_days = [d for c in cases if (d := _ready_to_discharge(c, start, end)) is not None]
    by_kind: dict[str, Compliance] = defaultdict(Compliance)
    by_unit: dict[str, Compliance] = defaultdict(Compliance)
    for case in cases:
        for deadline in deadlines(case, now, rules):
            if start <= deadline.due < end:
                by_kind[deadline.kind].count(deadline.status)
                by_unit[deadline.sender or UNKNOWN].count(deadline.status)
    meetings = Counter(
        m.site or UNKNOWN for c in cases for m in c.meetings if not m.cancelled and start <= m.start < end
    )
    needs = Counter(
        c.needs_category.value if c.needs_category else UNKNOWN for c in cases if _overlaps(c, start, end)
    )
    return OutcomeMeasures(
        start=start,
        end=end,
        agreement=rules.agreement.name,
        discharged_after_ready=len(ready_days),
        discharged_within_24h=sum(1 for d in ready_days if d <= DAY),
        median_days_ready_to_discharge=days(median(ready_days)) if ready_days else None,
        p90_days_ready_to_discharge=days(percentile(ready_days, 0.9)) if ready_days else None,
        compliance_by_kind=dict(sorted(by_kind.items())),
        compliance_by_unit=dict(sorted(by_unit.items())),
        meetings_by_site=dict(sorted(meetings.items())),
        needs_mix=dict(sorted(needs.items())),
        betalningsansvar=tuple(
            municipality_months(cases, rules.agreement, local_day(start), local_day(end), now)
        ),
    )


def _ready_to_discharge(case: DischargeCase, start: datetime, end: datetime) -> timedelta | None:
    """Elapsed time from the last utskrivningsklar to a discharge in the period."""
    discharged = case.discharged_at
    if discharged is None or not case.ready_periods or not start <= discharged < end:
        return None
    return max(timedelta(0), elapsed(case.ready_periods[-1].start, discharged))


def median(values: list[timedelta]) -> timedelta:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[timedelta], fraction: float) -> timedelta:
    """Nearest-rank percentile: the smallest value with at least `fraction` of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def days(duration: timedelta) -> float:
    return round(duration / DAY, 2)


def _overlaps(case: DischargeCase, start: datetime, end: datetime) -> bool:
    left = case.discharged_at or case.died_at
    return case.admitted_at < end and (left is None or left >= start)
