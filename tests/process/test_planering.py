"""The aggregates behind the dashboard's charts of planning together (adapter/process/planering.py),
as table tests worked by hand. Weeks are 46, 47 and 48 of 2026 (Mondays 9, 16 and 23 November),
months October to December 2026; all times Swedish local (November: +01:00)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from adapter.process.avvikelser import Deviation, Rule
from adapter.process.events import Party, PlaneringsmoteAvbokat, PlaneringsmoteOmbokat
from adapter.process.planering import (
    SlotTime,
    deviations_per_party,
    lead_times,
    meetings_per_site,
    slot_use,
    week_of,
)
from tests.support.avvikelser_story import K
from tests.support.lus_story import SV, VC, Story, when

MONDAYS = [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
MONTHS = ["2026-10", "2026-11", "2026-12"]
VARBERG = "TSTNMT2321000156-SV42"
SITES = {SV: "Halmstad", VARBERG: "Varberg"}


def story(admitted: str, case_id: str = "case-1", unit: str = SV) -> Story:
    s = Story(admitted, case_id=case_id, needs_both=False)
    s.events[0] = replace(s.events[0], unit=unit)  # type: ignore[call-arg]
    return s


def rebook(s: Story, at: str, start: str) -> Story:
    [meeting] = [e for e in s.events if e.kind == "planeringsmote-bokat"]
    return s.add(
        PlaneringsmoteOmbokat(
            **s._common(when(at), VC), appointment_id=meeting.appointment_id, start=when(start)
        )  # type: ignore[arg-type, attr-defined]
    )


def cancel(s: Story, at: str) -> Story:
    [meeting] = [e for e in s.events if e.kind == "planeringsmote-bokat"]
    return s.add(PlaneringsmoteAvbokat(**s._common(when(at), VC), appointment_id=meeting.appointment_id))  # type: ignore[arg-type, attr-defined]


# (id, the stories, expected meetings per site: site → [v46, v47, v48])
MEETINGS = [
    (
        "one-in-its-week",
        lambda: [story("2026-11-09 08:00").mote("2026-11-09 09:00", "2026-11-10 10:00")],
        {"Halmstad": [1, 0, 0]},
    ),
    # 00:30 on Monday 16 November in Sweden is Sunday 23:30 UTC: week 47, not 46.
    (
        "monday-just-after-midnight",
        lambda: [story("2026-11-13 08:00").mote("2026-11-13 09:00", "2026-11-16 00:30")],
        {"Halmstad": [0, 1, 0]},
    ),
    (
        "sunday-late-is-its-week",
        lambda: [story("2026-11-23 08:00").mote("2026-11-23 09:00", "2026-11-29 23:30")],
        {"Halmstad": [0, 0, 1]},
    ),
    (
        "outside-the-weeks",
        lambda: [
            story("2026-11-02 08:00", "a").mote("2026-11-02 09:00", "2026-11-08 23:59"),
            story("2026-11-23 08:00", "b").mote("2026-11-23 09:00", "2026-11-30 00:00"),
        ],
        {},
    ),
    (
        "cancelled-is-not-held",
        lambda: [
            cancel(story("2026-11-09 08:00").mote("2026-11-09 09:00", "2026-11-10 10:00"), "2026-11-09 12:00")
        ],
        {},
    ),
    (
        "rebooked-counts-when-held",
        lambda: [
            rebook(
                story("2026-11-09 08:00").mote("2026-11-09 09:00", "2026-11-10 10:00"),
                "2026-11-09 12:00",
                "2026-11-24 10:00",
            )
        ],
        {"Halmstad": [0, 0, 1]},
    ),
    (
        "void-case",
        lambda: [
            story("2026-11-09 08:00")
            .mote("2026-11-09 09:00", "2026-11-10 10:00")
            .makulera("2026-11-09 13:00", "case-1-m1")
        ],
        {},
    ),
    (
        "two-sites-three-meetings",
        lambda: [
            story("2026-11-09 08:00", "a")
            .mote("2026-11-09 09:00", "2026-11-10 10:00")
            .mote("2026-11-09 10:00", "2026-11-17 10:00"),
            story("2026-11-09 08:00", "b", VARBERG).mote("2026-11-09 09:00", "2026-11-18 10:00"),
        ],
        {"Halmstad": [1, 1, 0], "Varberg": [0, 1, 0]},
    ),
    (
        "unit-without-a-site-by-its-id",
        lambda: [story("2026-11-09 08:00", unit=VC).mote("2026-11-09 09:00", "2026-11-26 10:00")],
        {VC: [0, 0, 1]},
    ),
]


@pytest.mark.parametrize(("stories", "expected"), [m[1:] for m in MEETINGS], ids=[m[0] for m in MEETINGS])
def test_meetings_per_site_and_week(stories: object, expected: dict[str, list[int]]) -> None:
    cases = [s.case() for s in stories()]  # type: ignore[operator]
    assert meetings_per_site(cases, MONDAYS, lambda unit: SITES.get(unit, unit)) == expected


# (id, the stories, expected days per week, medians, 90th percentiles)
LEAD = [
    # Ready Mon 9 Nov 10:00, the meeting Wed 11 Nov 10:00: 2 days, in week 46.
    (
        "two-days",
        lambda: [
            story("2026-11-09 08:00").klar("2026-11-09 10:00").mote("2026-11-09 11:00", "2026-11-11 10:00")
        ],
        [(2.0,), (), ()],
        [2.0, None, None],
        [2.0, None, None],
    ),
    # A meeting at 08:00 before being ready at 10:00 plans ahead: the next one, Thu 12 22:00,
    # counts (3.5 days).
    (
        "the-first-meeting-after-being-ready",
        lambda: [
            story("2026-11-09 07:00")
            .mote("2026-11-09 07:30", "2026-11-09 08:00")
            .klar("2026-11-09 10:00")
            .mote("2026-11-09 11:00", "2026-11-12 22:00")
        ],
        [(3.5,), (), ()],
        [3.5, None, None],
        [3.5, None, None],
    ),
    # Three cases ready Mon 16 08:00 meeting 1, 2 and 4 days later: median 2; nearest rank ⌈0.9·3⌉ = 3rd: 4.
    (
        "median-and-p90-of-three",
        lambda: [
            story("2026-11-16 07:00", f"c{n}")
            .klar("2026-11-16 08:00")
            .mote("2026-11-16 09:00", f"2026-11-{16 + n} 08:00")
            for n in (1, 2, 4)
        ],
        [(), (1.0, 2.0, 4.0), ()],
        [None, 2.0, None],
        [None, 4.0, None],
    ),
    # Two: 1 and 3 days: median 2 (the mean of the middle two); ⌈0.9·2⌉ = 2nd: 3.
    (
        "median-of-two",
        lambda: [
            story("2026-11-23 07:00", f"c{n}")
            .klar("2026-11-23 08:00")
            .mote("2026-11-23 09:00", f"2026-11-{23 + n} 08:00")
            for n in (1, 3)
        ],
        [(), (), (1.0, 3.0)],
        [None, None, 2.0],
        [None, None, 3.0],
    ),
    (
        "never-ready",
        lambda: [story("2026-11-09 08:00").mote("2026-11-09 09:00", "2026-11-11 10:00")],
        [(), (), ()],
        [None, None, None],
        [None, None, None],
    ),
    # Ready Tue 10 08:00, taken back, ready again Fri 13: counted from the first, to the meeting
    # Mon 16 08:00 (6 days).
    (
        "from-the-first-utskrivningsklar",
        lambda: [
            story("2026-11-09 08:00")
            .klar("2026-11-10 08:00")
            .atertag("2026-11-11 08:00")
            .klar("2026-11-13 08:00")
            .mote("2026-11-13 09:00", "2026-11-16 08:00")
        ],
        [(), (6.0,), ()],
        [None, 6.0, None],
        [None, 6.0, None],
    ),
    # The meeting Wed 11 was cancelled; the counted one is Thu 19 (10 days after ready Mon 9 10:00), week 47.
    (
        "a-cancelled-meeting-is-not-the-meeting",
        lambda: [
            cancel(
                story("2026-11-09 08:00")
                .klar("2026-11-09 10:00")
                .mote("2026-11-09 11:00", "2026-11-11 10:00"),
                "2026-11-10 08:00",
            ).mote("2026-11-10 09:00", "2026-11-19 10:00")
        ],
        [(), (10.0,), ()],
        [None, 10.0, None],
        [None, 10.0, None],
    ),
]


@pytest.mark.parametrize(
    ("stories", "per_week", "medians", "p90s"), [c[1:] for c in LEAD], ids=[c[0] for c in LEAD]
)
def test_lead_time_from_utskrivningsklar_to_the_meeting(
    stories: object, per_week: list[tuple[float, ...]], medians: list[float | None], p90s: list[float | None]
) -> None:
    lead = lead_times([s.case() for s in stories()], MONDAYS)  # type: ignore[operator]
    assert (list(lead.days), list(lead.median), list(lead.p90)) == (per_week, medians, p90s)


def slots(unit: str, start: str, free: int, booked: int) -> list[SlotTime]:
    at = when(start)
    return [SlotTime(unit=unit, start=at, booked=n < booked) for n in range(free + booked)]


# (id, slots, expected share booked per unit: unit → [v46, v47, v48] in %)
SLOT_USE = [
    # Four offered Tue 10 Nov, one booked: 25 %; nothing offered the other weeks: no value, not 0.
    ("one-of-four", slots(K, "2026-11-10 10:00", 3, 1), {K: [25.0, None, None]}),
    ("none-booked-is-zero", slots(K, "2026-11-17 10:00", 2, 0), {K: [None, 0.0, None]}),
    # Three of three in week 47 and one of three in week 48: 100 %, then 33.3 %.
    (
        "per-week",
        slots(K, "2026-11-17 10:00", 0, 3) + slots(K, "2026-11-24 10:00", 2, 1),
        {K: [None, 100.0, 33.3]},
    ),
    (
        "per-unit",
        slots(K, "2026-11-10 10:00", 1, 1) + slots(VC, "2026-11-10 10:00", 4, 1),
        {K: [50.0, None, None], VC: [20.0, None, None]},
    ),
    # Sunday 22 Nov 23:30 is week 47; Monday 30 Nov 00:00 is past the weeks.
    (
        "week-edges",
        slots(K, "2026-11-22 23:30", 0, 1) + slots(K, "2026-11-30 00:00", 0, 5),
        {K: [None, 100.0, None]},
    ),
]


@pytest.mark.parametrize(("offered", "expected"), [c[1:] for c in SLOT_USE], ids=[c[0] for c in SLOT_USE])
def test_share_of_bookable_times_booked(
    offered: list[SlotTime], expected: dict[str, list[float | None]]
) -> None:
    assert slot_use(offered, MONDAYS) == expected


def deviation(party: str, since: str) -> Deviation:
    return Deviation(
        rule=Rule.KVITTENS_SAKNAS,
        case_id="case-1",
        party=party,
        party_kind=Party.KOMMUN,
        since=when(since),
        due=None,
        done_at=None,
    )


# (id, deviations, expected per party: party → [oct, nov, dec])
DEVIATIONS = [
    (
        "two-of-one-party",
        [deviation(K, "2026-11-03 10:00"), deviation(K, "2026-11-20 10:00")],
        {K: [0, 2, 0]},
    ),
    (
        "per-party",
        [deviation(K, "2026-11-03 10:00"), deviation(SV, "2026-10-14 10:00")],
        {K: [0, 1, 0], SV: [1, 0, 0]},
    ),
    # 30 Nov 23:30 is November; 1 Dec 00:10 in Sweden is still 30 Nov in UTC, but December here.
    (
        "month-edges-in-swedish-time",
        [deviation(K, "2026-11-30 23:30"), deviation(K, "2026-12-01 00:10")],
        {K: [0, 1, 1]},
    ),
    ("outside-the-months", [deviation(K, "2026-09-30 23:59"), deviation(K, "2027-01-01 00:00")], {}),
]


@pytest.mark.parametrize(("found", "expected"), [c[1:] for c in DEVIATIONS], ids=[c[0] for c in DEVIATIONS])
def test_deviations_per_party_and_month(found: list[Deviation], expected: dict[str, list[int]]) -> None:
    assert deviations_per_party(found, MONTHS) == expected


def test_week_of_consecutive_mondays() -> None:
    assert week_of(datetime.fromisoformat("2026-11-15T23:00:00+00:00"), MONDAYS) == 1  # Mon 00:00 local
    assert week_of(when("2026-11-09 00:00"), MONDAYS) == 0
    assert week_of(when("2026-11-08 23:59"), MONDAYS) is None
    assert week_of(when("2026-11-10 10:00"), []) is None
