"""Betalningsansvar: the days a municipality pays for, and how much, under a regional agreement.

Per-case models (the law's default, Stockholm):
- Day 0 is the Swedish calendar day the utskrivningsklar notice was sent — the next day when the
  agreement has a cut-off time and the notice was sent at or after it (Stockholm: 12:00).
- The municipality pays from the day after `fristdagar` days have passed after day 0 (counted as
  calendar days, or Monday–Friday where so agreed), for every calendar day the patient is still in
  hospital, the day the ready period ends included (a started day is paid; the day amount is "per
  vårddygn"). The day 0 itself is never paid, so liable days never exceed the days between
  utskrivningsklar and discharge.
- An återtag ends the ready period, stopping the clock; a new utskrivningsklar starts a new period
  with a new day 0. Discharge or death ends the last period. A period still open is counted up to
  the day of `now`.
- Conditions: where a kallelse till SIP was needed (both region and municipality services) and the
  agreement requires it, no day is paid before the kallelse was sent, and a period that ended with
  no kallelse sent pays nothing. (The inskrivningsmeddelande always precedes: a case opens with it.)

The monthly-average model (Västra Götaland, Skaraborg) is not per case: see `municipality_months`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from adapter.process.case import CaseState, DischargeCase, ReadyPeriod
from adapter.process.kalender import add_days, days_between, local_day, local_time, month_of
from adapter.process.rules import Agreement, DayCount, PaymentModel

UNKNOWN_MUNICIPALITY = "okänd"


@dataclass(frozen=True, kw_only=True)
class Betalningsansvar:
    case_id: str
    municipality: str  # SCB kommunkod of the patient's folkbokföringsadress, or "okänd"
    agreement: str
    ready_days: int  # calendar days from utskrivningsklar to its end (day 0 not counted), all periods
    days: tuple[date, ...]  # the liable days (per-case models only)
    amount: int  # kronor
    notes: tuple[str, ...] = ()  # why days that could have been liable were not

    @property
    def liable_days(self) -> int:
        return len(self.days)


def municipality_of(case: DischargeCase) -> str:
    address = case.patient.address
    return (address.municipality_code if address else None) or UNKNOWN_MUNICIPALITY


def betalningsansvar(case: DischargeCase, agreement: Agreement, now: datetime) -> Betalningsansvar:
    """The case's liable days and amount under the agreement, as of `now`."""
    periods = () if case.state is CaseState.MAKULERAD else case.ready_periods
    days: list[date] = []
    notes: list[str] = []
    ready = 0
    for period in periods:
        end_day = local_day(period.end or now)
        ready += max(0, (end_day - local_day(period.start)).days)
        if agreement.model is PaymentModel.PER_CASE:
            period_days, note = _liable_days(case, period, end_day, agreement)
            days.extend(period_days)
            if note:
                notes.append(note)
    return Betalningsansvar(
        case_id=case.case_id,
        municipality=municipality_of(case),
        agreement=agreement.name,
        ready_days=ready,
        days=tuple(days),
        amount=sum(agreement.day_amounts.for_day(d) for d in days),
        notes=tuple(notes),
    )


def day_zero(notice: datetime, agreement: Agreement) -> date:
    """The day the clock starts: the notice's day, or the next if sent at or after the cut-off."""
    day = local_day(notice)
    if agreement.notice_cutoff is not None and local_time(notice) >= agreement.notice_cutoff:
        day += timedelta(days=1)
    return day


def first_liable_day(case: DischargeCase, notice: datetime, agreement: Agreement) -> date:
    frist = agreement.fristdagar[case.care_kind]
    weekdays = agreement.day_count is DayCount.WEEKDAYS
    return add_days(day_zero(notice, agreement), frist, weekdays_only=weekdays) + timedelta(days=1)


def _liable_days(
    case: DischargeCase, period: ReadyPeriod, end_day: date, agreement: Agreement
) -> tuple[list[date], str | None]:
    first = first_liable_day(case, period.start, agreement)
    if kallelse_missing(case, end_day, agreement):
        return [], f"kallelse till SIP saknas för perioden från {local_day(period.start).isoformat()}"
    if agreement.requires_kallelse and case.needs_region_and_municipality and case.kallelse_at:
        first = max(first, local_day(case.kallelse_at))
    return days_between(first, end_day), None


def kallelse_missing(case: DischargeCase, end_day: date, agreement: Agreement) -> bool:
    """A kallelse was needed and required, and none was sent by the end of the period."""
    if not (agreement.requires_kallelse and case.needs_region_and_municipality):
        return False
    return case.kallelse_at is None or local_day(case.kallelse_at) > end_day


# --- per municipality and month ---


@dataclass(frozen=True, kw_only=True)
class MunicipalityMonth:
    municipality: str
    month: str  # YYYY-MM
    discharged: int  # cases whose ready period ended (discharge, death) this month, conditions met
    ready_days: int  # their days from utskrivningsklar to discharge
    liable_days: int
    amount: int  # kronor


def municipality_months(
    cases: Iterable[DischargeCase], agreement: Agreement, start: date, end: date, now: datetime
) -> list[MunicipalityMonth]:
    """Liable days and amount per municipality and month for the days in [start, end)."""
    cases = list(cases)
    cohorts = _discharge_cohorts(cases, agreement, now)
    liable: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    if agreement.model is PaymentModel.PER_CASE:
        for case in cases:
            result = betalningsansvar(case, agreement, now)
            for day in result.days:
                if start <= day < end:
                    bucket = liable[(result.municipality, month_of(day))]
                    bucket[0] += 1
                    bucket[1] += agreement.day_amounts.for_day(day)
    else:
        for key in cohorts:
            if _overlaps(key[1], start, end):
                days = _average_excess(cohorts, key, agreement)
                liable[key] = [days, days * agreement.day_amounts.for_day(_month_start(key[1]))]
    months = {k for k in cohorts if _overlaps(k[1], start, end)} | set(liable)
    rows = []
    for key in sorted(months):
        discharged, ready = cohorts.get(key, (0, 0))
        days, amount = liable.get(key, (0, 0))
        rows.append(
            MunicipalityMonth(
                municipality=key[0],
                month=key[1],
                discharged=discharged,
                ready_days=ready,
                liable_days=days,
                amount=amount,
            )
        )
    return rows


def _discharge_cohorts(
    cases: list[DischargeCase], agreement: Agreement, now: datetime
) -> dict[tuple[str, str], tuple[int, int]]:
    """(cases, ready days) per municipality and month of discharge, counting only cases whose
    conditions are met (the averages in Västra Götaland count the same patients)."""
    cohorts: dict[tuple[str, str], tuple[int, int]] = {}
    for case in cases:
        last_end = case.discharged_at or case.died_at
        if case.state is CaseState.MAKULERAD or not case.ready_periods or last_end is None:
            continue
        end_day = local_day(last_end)
        if kallelse_missing(case, end_day, agreement):
            continue
        key = (municipality_of(case), month_of(end_day))
        count, ready = cohorts.get(key, (0, 0))
        cohorts[key] = (count + 1, ready + betalningsansvar(case, agreement, now).ready_days)
    return cohorts


def _average_excess(
    cohorts: dict[tuple[str, str], tuple[int, int]], key: tuple[str, str], agreement: Agreement
) -> int:
    """The month's days above the agreed average, if the average over the window is above it."""
    threshold = agreement.average_threshold_days
    if threshold is None:
        raise ValueError(f"Agreement {agreement.name} has no average threshold.")
    municipality, month = key
    window = [month]
    for _ in range(agreement.average_window_months - 1):
        window.append(_previous_month(window[-1]))
    count = sum(cohorts.get((municipality, m), (0, 0))[0] for m in window)
    ready = sum(cohorts.get((municipality, m), (0, 0))[1] for m in window)
    # Compare averages without division: ready / count > threshold.
    if count == 0 or ready <= threshold * count:
        return 0
    month_count, month_ready = cohorts.get(key, (0, 0))
    return max(0, month_ready - threshold * month_count)


def _month_start(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _next_month(month: str) -> date:
    first = _month_start(month)
    return (first + timedelta(days=32)).replace(day=1)


def _previous_month(month: str) -> str:
    return month_of(_month_start(month) - timedelta(days=1))


def _overlaps(month: str, start: date, end: date) -> bool:
    return _month_start(month) < end and _next_month(month) > start
