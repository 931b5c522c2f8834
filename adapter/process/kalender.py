"""Calendar days in Europe/Stockholm: the clock LUS deadlines and payment days are counted on.

Event times arrive with any UTC offset (+01:00 in winter, +02:00 in summer, or Z); a calendar day is
always the Swedish local day. Exact durations ("within 24 hours") are counted in UTC, so that a
daylight-saving night is 23 or 25 hours long, as it is for the patient.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local_day(moment: datetime) -> date:
    """The Swedish calendar day a moment falls on."""
    return moment.astimezone(STOCKHOLM).date()


def local_time(moment: datetime) -> time:
    return moment.astimezone(STOCKHOLM).time()


def day_start(day: date) -> datetime:
    """Midnight at the start of a Swedish calendar day (an aware datetime)."""
    return datetime.combine(day, time(0), tzinfo=STOCKHOLM)


def day_end(day: date) -> datetime:
    """The last moment of a Swedish calendar day: midnight of the next, exclusive."""
    return day_start(day + timedelta(days=1))


def after(moment: datetime, duration: timedelta) -> datetime:
    """`moment + duration` in elapsed time (UTC), shown in Swedish local time."""
    return (moment.astimezone(UTC) + duration).astimezone(STOCKHOLM)


def instant(moment: datetime) -> datetime:
    """The moment in UTC: compare with this, since Python compares two times that share one
    tzinfo by their wall clocks, which repeat an hour when daylight saving ends."""
    return moment.astimezone(UTC)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two moments (Python ignores DST when both share one tzinfo)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def is_weekday(day: date) -> bool:
    return day.weekday() < 5


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while not is_weekday(day):
        day += timedelta(days=1)
    return day


def add_days(day: date, count: int, *, weekdays_only: bool = False) -> date:
    """`count` days after `day`, counting calendar days or only Monday–Friday."""
    if not weekdays_only:
        return day + timedelta(days=count)
    for _ in range(count):
        day = next_weekday(day)
    return day


def days_between(first: date, last: date) -> list[date]:
    """Every calendar day from `first` to `last`, both included (empty when last < first)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
