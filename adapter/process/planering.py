"""Planning together, week by week and month by month, for the dashboard (issue: a shared tidbok,
Halland comparing Halmstad and Varberg): planning meetings per site, the lead time from
utskrivningsklar to the planning meeting, the share of the tidbok's bookable times used, and the
avvikelser per party. Pure: the caller passes the cases, the slots, the deviations and the
periods (weeks as their Mondays, months as YYYY-MM); a week or month is Swedish local time.

- A planning meeting counts in the week it starts, at the site of its case's unit, unless it was
  cancelled or its case made void.
- The lead time of a case is from its first utskrivningsklar to the first planning meeting that
  starts at or after it (a meeting held earlier plans for a readiness not yet reached); it counts
  in the week of that meeting.
- The share used is, per unit that publishes slots (Schedule.actor) and week of the slot's start,
  the booked slots among the bookable ones (free or booked; a slot withdrawn as unavailable was
  never offered). None where nothing was published.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from adapter.process.avvikelser import Deviation
from adapter.process.case import CaseState, DischargeCase
from adapter.process.kalender import elapsed, instant, local_day
from adapter.process.measures import days, median, percentile


@dataclass(frozen=True, kw_only=True)
class SlotTime:
    """A bookable tidbok slot, as the share of used times needs it."""

    unit: str  # HSA-id of the unit that publishes it (Schedule.actor)
    start: datetime
    booked: bool


@dataclass(frozen=True, kw_only=True)
class LeadTimes:
    """Days from utskrivningsklar to the planning meeting, per week: each case's, and their median
    and 90th percentile (nearest rank); None for a week without one."""

    days: tuple[tuple[float, ...], ...]
    median: tuple[float | None, ...]
    p90: tuple[float | None, ...]


def week_of(moment: datetime, mondays: Sequence[date]) -> int | None:
    """The index of the week (given by consecutive Mondays) that `moment` falls in, if any."""
    if not mondays:
        return None
    index = (local_day(moment) - mondays[0]).days // 7
    return index if 0 <= index < len(mondays) else None


def meetings_per_site(
    cases: Iterable[DischargeCase], mondays: Sequence[date], site_of: Callable[[str], str]
) -> dict[str, list[int]]:
    """Planning meetings per site (of the case's unit, by `site_of`) and week; sites without a
    meeting in the weeks are left out."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(mondays))
    for case in _valid(cases):
        for meeting in case.meetings:
            week = None if meeting.cancelled else week_of(meeting.start, mondays)
            if week is not None:
                counts[site_of(case.unit)][week] += 1
    return dict(sorted(counts.items()))


def lead_times(cases: Iterable[DischargeCase], mondays: Sequence[date]) -> LeadTimes:
    per_week: list[list[timedelta]] = [[] for _ in mondays]
    for case in _valid(cases):
        if not case.ready_periods:
            continue
        ready = instant(case.ready_periods[0].start)
        after = [instant(m.start) for m in case.meetings if not m.cancelled and instant(m.start) >= ready]
        if not after:
            continue
        first = min(after)
        week = week_of(first, mondays)
        if week is not None:
            per_week[week].append(elapsed(ready, first))
    return LeadTimes(
        days=tuple(tuple(sorted(days(d) for d in week)) for week in per_week),
        median=tuple(days(median(week)) if week else None for week in per_week),
        p90=tuple(days(percentile(week, 0.9)) if week else None for week in per_week),
    )


def slot_use(slots: Iterable[SlotTime], mondays: Sequence[date]) -> dict[str, list[float | None]]:
    """Per unit and week, the percentage of its bookable slots that a meeting booked."""
    offered: dict[str, list[int]] = defaultdict(lambda: [0] * len(mondays))
    booked: dict[str, list[int]] = defaultdict(lambda: [0] * len(mondays))
    for slot in slots:
        week = week_of(slot.start, mondays)
        if week is not None:
            offered[slot.unit][week] += 1
            booked[slot.unit][week] += slot.booked
    return {
        unit: [round(100 * b / n, 1) if n else None for b, n in zip(booked[unit], counts, strict=True)]
        for unit, counts in sorted(offered.items())
    }


def deviations_per_party(found: Iterable[Deviation], months: Sequence[str]) -> dict[str, list[int]]:
    """Avvikelser per party responsible and month (YYYY-MM); parties without one are left out."""
    index = {month: i for i, month in enumerate(months)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(months))
    for deviation in found:
        at = index.get(deviation.month)
        if at is not None:
            counts[deviation.party][at] += 1
    return dict(sorted(counts.items()))


def _valid(cases: Iterable[DischargeCase]) -> Iterable[DischargeCase]:
    return (c for c in cases if c.state is not CaseState.MAKULERAD)
