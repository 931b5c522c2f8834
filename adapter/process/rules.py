"""The rule objects the process computes with: deadlines and the betalningsansvar agreement.

No numbers live here. Every figure — the 24 hours, the 3 days, fristdagar, cut-off times, day
amounts — comes from regional configuration (examples/config/lus-rules.yaml, read by
adapter/rules_config.py), because regions agree on their own and several facts are unconfirmed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta

from adapter.process.events import CareKind


class DayCount(enum.StrEnum):
    """How fristdagar are counted: calendar days (the law, Stockholm) or Monday–Friday ([U])."""

    CALENDAR = "calendar"
    WEEKDAYS = "weekdays"


class PaymentModel(enum.StrEnum):
    PER_CASE = "per-case"  # each case pays from its own first liable day (the law, Stockholm)
    MONTHLY_AVERAGE = "monthly-average"  # the municipality pays when its monthly average is too high


@dataclass(frozen=True, kw_only=True)
class DeadlineRules:
    inskrivning_within: timedelta  # inskrivningsmeddelande after admission (elapsed time)
    kallelse_within_days: int  # kallelse till SIP, calendar days after utskrivningsklar
    # A kallelse sent at or after this local time counts from the next weekday (Meddix); None: never.
    kallelse_cutoff: time | None = None
    # A message the kommun receives, not acknowledged (ok kvittens) within this: an avvikelse.
    kvittens_within: timedelta


class MissingDayAmount(LookupError):
    """No day amount is configured for a year (nor for any year before it)."""


@dataclass(frozen=True)
class DayAmounts:
    """Amount per liable day, whole kronor, per year. An amount stays in force until the next."""

    by_year: Mapping[int, int]

    def for_day(self, day: date) -> int:
        years = [y for y in self.by_year if y <= day.year]
        if not years:
            raise MissingDayAmount(f"No day amount is configured for {day.year} or any year before it.")
        return self.by_year[max(years)]


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """A regional agreement on betalningsansvar (or the law's default where none exists)."""

    name: str
    model: PaymentModel
    # Days after day 0 (the notice's day) before the municipality pays: liable from day fristdagar+1.
    fristdagar: Mapping[CareKind, int]
    day_amounts: DayAmounts
    day_count: DayCount = DayCount.CALENDAR
    # A notice sent at or after this local time has the next day as its day 0 (Stockholm 12:00).
    notice_cutoff: time | None = None
    # No liability where a kallelse till SIP was needed but not sent.
    requires_kallelse: bool = True
    # Monthly-average model: the municipality pays the days above this average per patient, ...
    average_threshold_days: int | None = None
    # ... judged over this many months ending with the month in question (Västra Götaland: 3).
    average_window_months: int = 1


@dataclass(frozen=True, kw_only=True)
class ProcessRules:
    deadlines: DeadlineRules
    agreement: Agreement
    agreements: Mapping[str, Agreement] = field(default_factory=dict)  # every configured agreement
    # Joint sign-off: the utskrivningsmeddelande waits until every party approved (docs/signoff.md).
    discharge_waits_for_approval: bool = False
