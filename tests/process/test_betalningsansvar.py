"""Betalningsansvar, worked by hand: liable days and amount per case under each agreement.

The agreements and day amounts are the shipped examples/config/lus-rules.yaml:
- lagen: fristdagar 3 (calendar), no cut-off; day 0 is the notice's day, days 1-3 free, day 4 paid.
- stockholm: liable when 2 (somatic) or 5 (psychiatric) calendar days including day 0 have passed,
  i.e. fristdagar 1 / 4 after day 0; a notice counts for its own day only before 12:00.
- day amounts: 2019 7 800 kr, 2020 8 200 kr (2021 keeps 8 200), 2022 9 300 kr (later years keep it).
Every calendar day from the first liable day to the day the ready period ends (discharge, death,
återtag) is paid, that last day included. Mondays in March 2022: the 7th, 14th, 21st, 28th.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import pytest

from adapter.config import PROJECT_ROOT
from adapter.process.betalningsansvar import betalningsansvar, municipality_months
from adapter.process.events import CareKind
from adapter.process.rules import Agreement, DayCount, MissingDayAmount
from adapter.rules_config import load_rules
from tests.support.lus_story import Story, when

RULES = load_rules(PROJECT_ROOT / "examples" / "config")
AGREEMENTS: dict[str, Agreement] = {
    **RULES.agreements,
    "lagen-vardagar": replace(RULES.agreements["lagen"], name="lagen-vardagar", day_count=DayCount.WEEKDAYS),
}
PSYK = CareKind.PSYCHIATRIC


@dataclass(frozen=True)
class Row:
    id: str
    agreement: str
    steps: list[tuple[str, str]]  # (klar | atertag | kallelse | ut | dod | makulera-klar, time)
    days: int
    amount: int
    kind: CareKind = CareKind.SOMATIC
    needs_both: bool = True
    now: str = "2030-01-01 00:00"


ROWS = [
    # Day 0 Mon 7 Mar; Tue–Thu 8–10 are the three free days; Fri 11 (discharge day) is paid.
    Row(
        "lagen-basic",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00"), ("ut", "2022-03-11 14:00")],
        1,
        9300,
    ),
    # Discharged on Thu 10 Mar, the last free day: nothing is paid.
    Row(
        "lagen-within-frist",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00"), ("ut", "2022-03-10 18:00")],
        0,
        0,
    ),
    # Same-day discharge ("dag 0"): nothing is paid.
    Row(
        "lagen-day-0",
        "lagen",
        [("klar", "2022-03-07 09:00"), ("kallelse", "2022-03-07 09:30"), ("ut", "2022-03-07 15:00")],
        0,
        0,
    ),
    # Weekend: day 0 Fri 11 Mar; Sat 12, Sun 13, Mon 14 free (calendar days); Tue 15, Wed 16 paid.
    Row(
        "lagen-weekend",
        "lagen",
        [("klar", "2022-03-11 09:00"), ("kallelse", "2022-03-11 10:00"), ("ut", "2022-03-16 10:00")],
        2,
        18600,
    ),
    # Weekday counting (the older source): day 0 Fri 11; free Mon 14, Tue 15, Wed 16; Thu 17, Fri 18 paid.
    Row(
        "lagen-weekdays",
        "lagen-vardagar",
        [("klar", "2022-03-11 09:00"), ("kallelse", "2022-03-11 10:00"), ("ut", "2022-03-18 10:00")],
        2,
        18600,
    ),
    # The law has no cut-off: a notice at 23:30 still has its own day as day 0; Fri 11, Sat 12 paid.
    Row(
        "lagen-late-evening-notice",
        "lagen",
        [("klar", "2022-03-07 23:30"), ("kallelse", "2022-03-08 09:00"), ("ut", "2022-03-12 11:00")],
        2,
        18600,
    ),
    # Stockholm, notice 11:59 counts for Mon 7: two days including day 0 (7, 8) pass; Wed 9 – Sat 12 paid.
    Row(
        "stockholm-before-noon",
        "stockholm",
        [("klar", "2022-03-07 11:59"), ("kallelse", "2022-03-07 13:00"), ("ut", "2022-03-12 10:00")],
        4,
        37200,
    ),
    # Stockholm, notice at 12:00 sharp: day 0 is Tue 8; 8, 9 pass; Thu 10 – Sat 12 paid.
    Row(
        "stockholm-at-noon",
        "stockholm",
        [("klar", "2022-03-07 12:00"), ("kallelse", "2022-03-07 13:00"), ("ut", "2022-03-12 10:00")],
        3,
        27900,
    ),
    # 11:30Z is 12:30 in Stockholm (+01:00 in March): after the cut-off, as the row above.
    Row(
        "stockholm-utc-offset",
        "stockholm",
        [
            ("klar", "2022-03-07T11:30:00Z"),
            ("kallelse", "2022-03-07T13:00:00+01:00"),
            ("ut", "2022-03-12T10:00:00+01:00"),
        ],
        3,
        27900,
    ),
    # Stockholm psychiatric inpatient care: day 0 Mon 7 (09:00); five days including day 0 (7–11)
    # pass; Sat 12 – Tue 15 paid.
    Row(
        "stockholm-psychiatric",
        "stockholm",
        [("klar", "2022-03-07 09:00"), ("kallelse", "2022-03-07 10:00"), ("ut", "2022-03-15 12:00")],
        4,
        37200,
        kind=PSYK,
    ),
    # Stockholm psychiatric, notice 13:00: day 0 Tue 8; 8–12 pass; Sun 13 – Tue 15 paid.
    Row(
        "stockholm-psychiatric-afternoon",
        "stockholm",
        [("klar", "2022-03-07 13:00"), ("kallelse", "2022-03-07 14:00"), ("ut", "2022-03-15 12:00")],
        3,
        27900,
        kind=PSYK,
    ),
    # Since 2019 the law's default applies to psychiatry too: as lagen-basic, one day later discharge.
    Row(
        "lagen-psychiatric",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00"), ("ut", "2022-03-12 14:00")],
        2,
        18600,
        kind=PSYK,
    ),
    # Both region and municipality needed, no kallelse till SIP ever sent: the condition fails, 0.
    Row("lagen-missing-kallelse", "lagen", [("klar", "2022-03-07 10:00"), ("ut", "2022-03-14 10:00")], 0, 0),
    # Only one principal's services needed: no kallelse required; Fri 11 – Mon 14 paid.
    Row(
        "lagen-kallelse-not-needed",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("ut", "2022-03-14 10:00")],
        4,
        37200,
        needs_both=False,
    ),
    # Kallelse sent late, Sat 12: nothing before the conditions are met; Sat 12 – Mon 14 paid.
    Row(
        "lagen-late-kallelse",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-12 09:00"), ("ut", "2022-03-14 10:00")],
        3,
        27900,
    ),
    # Kallelse only after discharge (SIP after discharge): the period ended without one: 0.
    Row(
        "lagen-kallelse-after-discharge",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("ut", "2022-03-14 10:00"), ("kallelse", "2022-03-15 10:00")],
        0,
        0,
    ),
    # Återtag Fri 11 08:00 stops the clock after Fri 11 (a started day, paid: 1). New notice Mon 14:
    # 15–17 free, Fri 18 – Sun 20 paid (3). Total 4.
    Row(
        "lagen-atertag-restart",
        "lagen",
        [
            ("klar", "2022-03-07 10:00"),
            ("kallelse", "2022-03-07 11:00"),
            ("atertag", "2022-03-11 08:00"),
            ("klar", "2022-03-14 09:00"),
            ("ut", "2022-03-20 12:00"),
        ],
        4,
        37200,
    ),
    # Återtag Wed 9 inside the free days: period 1 pays nothing. New notice Thu 10: 11–13 free,
    # Mon 14, Tue 15 paid.
    Row(
        "lagen-atertag-within-frist",
        "lagen",
        [
            ("klar", "2022-03-07 10:00"),
            ("kallelse", "2022-03-07 11:00"),
            ("atertag", "2022-03-09 10:00"),
            ("klar", "2022-03-10 10:00"),
            ("ut", "2022-03-15 10:00"),
        ],
        2,
        18600,
    ),
    # The notice itself cancelled (makulering): no ready period, nothing paid.
    Row(
        "lagen-makulerad-notice",
        "lagen",
        [
            ("klar", "2022-03-07 10:00"),
            ("kallelse", "2022-03-07 11:00"),
            ("makulera-klar", "2022-03-07 12:00"),
            ("ut", "2022-03-14 10:00"),
        ],
        0,
        0,
    ),
    # Death Sun 13 06:00 ends the period: Fri 11 – Sun 13 paid.
    Row(
        "lagen-death",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00"), ("dod", "2022-03-13 06:00")],
        3,
        27900,
    ),
    # Death Wed 9, within the free days: nothing.
    Row(
        "lagen-death-within-frist",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00"), ("dod", "2022-03-09 22:00")],
        0,
        0,
    ),
    # DST starts Sun 27 Mar 2022 (02:00 → 03:00). Day 0 Fri 25; 26–28 free (the short Sunday is a
    # whole day); Tue 29 and Wed 30 (discharge 00:30 +02:00) paid.
    Row(
        "lagen-dst-spring",
        "lagen",
        [
            ("klar", "2022-03-25T23:30:00+01:00"),
            ("kallelse", "2022-03-26 10:00"),
            ("ut", "2022-03-30T00:30:00+02:00"),
        ],
        2,
        18600,
    ),
    # Stockholm on the DST day: 10:30Z is 12:30 summer time (+02:00): after noon, day 0 Mon 28;
    # 28, 29 pass; Wed 30 – Fri 1 Apr paid. (Read with the winter offset it would be 11:30 and count.)
    Row(
        "stockholm-dst-spring-noon",
        "stockholm",
        [("klar", "2022-03-27T10:30:00Z"), ("kallelse", "2022-03-28 09:00"), ("ut", "2022-04-01 10:00")],
        3,
        27900,
    ),
    # DST ends Sun 30 Oct 2022 (03:00 → 02:00). 10:30Z is 11:30 winter time: before noon, day 0 Sun
    # 30; 30, 31 pass; Tue 1 – Thu 3 Nov paid. (With the summer offset it would be 12:30.)
    Row(
        "stockholm-dst-autumn-noon",
        "stockholm",
        [("klar", "2022-10-30T10:30:00Z"), ("kallelse", "2022-10-31 09:00"), ("ut", "2022-11-03 10:00")],
        3,
        27900,
    ),
    # Across New Year: day 0 Mon 27 Dec 2021; 28–30 free; Fri 31 Dec at 2021's amount (8 200, kept
    # from 2020), Sat 1 and Sun 2 Jan 2022 at 9 300: 8 200 + 2 × 9 300 = 26 800.
    Row(
        "lagen-new-year",
        "lagen",
        [("klar", "2021-12-27 10:00"), ("kallelse", "2021-12-27 11:00"), ("ut", "2022-01-02 10:00")],
        3,
        26800,
    ),
    # Leap day: day 0 Sun 27 Feb 2028; Mon 28, Tue 29 Feb, Wed 1 Mar free; Thu 2, Fri 3 Mar paid at
    # the latest configured amount (9 300).
    Row(
        "lagen-leap-day",
        "lagen",
        [("klar", "2028-02-27 10:00"), ("kallelse", "2028-02-27 11:00"), ("ut", "2028-03-03 10:00")],
        2,
        18600,
    ),
    # 2019's amount, 7 800: day 0 Mon 3 Jun; 4–6 free; Fri 7 – Mon 10 paid: 4 × 7 800.
    Row(
        "lagen-2019-amount",
        "lagen",
        [("klar", "2019-06-03 10:00"), ("kallelse", "2019-06-03 11:00"), ("ut", "2019-06-10 10:00")],
        4,
        31200,
    ),
    # Still in hospital, counted up to `now` (Sun 13 Mar 12:00): Fri 11 – Sun 13 paid so far.
    Row(
        "lagen-open-case",
        "lagen",
        [("klar", "2022-03-07 10:00"), ("kallelse", "2022-03-07 11:00")],
        3,
        27900,
        now="2022-03-13 12:00",
    ),
]


def _story(row: Row) -> Story:
    story = Story(row.steps[0][1], care_kind=row.kind, needs_both=row.needs_both)
    klar_id = None
    for action, at in row.steps:
        if action == "makulera-klar":
            assert klar_id is not None
            story.makulera(at, klar_id)
            continue
        getattr(story, action)(at)
        if action == "klar":
            klar_id = story.last_id
    return story


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_hand_worked_betalningsansvar(row: Row) -> None:
    result = betalningsansvar(_story(row).case(), AGREEMENTS[row.agreement], when(row.now))
    assert (result.liable_days, result.amount) == (row.days, row.amount)


def test_there_are_at_least_twenty_hand_worked_cases() -> None:
    assert len(ROWS) >= 20


def test_the_liable_days_are_the_days_worked_by_hand() -> None:
    row = next(r for r in ROWS if r.id == "lagen-atertag-restart")
    result = betalningsansvar(_story(row).case(), AGREEMENTS["lagen"], when(row.now))
    assert result.days == (date(2022, 3, 11), date(2022, 3, 18), date(2022, 3, 19), date(2022, 3, 20))


def test_a_missing_kallelse_is_explained() -> None:
    row = next(r for r in ROWS if r.id == "lagen-missing-kallelse")
    result = betalningsansvar(_story(row).case(), AGREEMENTS["lagen"], when(row.now))
    assert result.notes and "kallelse" in result.notes[0]


def test_a_year_before_any_configured_amount_is_an_error_not_zero() -> None:
    # lagen-2018 (psychiatry's transitional 30 days) has no 2018 amount in the example config.
    story = Story("2018-03-01 10:00", care_kind=PSYK).klar("2018-03-01 10:00").kallelse("2018-03-01 11:00")
    story.ut("2018-04-03 10:00")
    with pytest.raises(MissingDayAmount):
        betalningsansvar(story.case(), AGREEMENTS["lagen-2018"], when("2030-01-01 00:00"))


# --- the monthly-average model, per municipality and month ---


def _discharged(case_id: str, municipality: str, klar: str, ut: str) -> Story:
    story = Story(klar, case_id=case_id, municipality=municipality)
    return story.klar(klar).kallelse(klar).ut(ut)


def _months(stories: list[Story], agreement: str, start: date, end: date) -> dict[tuple[str, str], tuple]:
    """(discharged, ready days, liable days, amount) per (municipality, month)."""
    rows = municipality_months(
        [s.case() for s in stories], AGREEMENTS[agreement], start, end, when("2030-01-01")
    )
    return {(r.municipality, r.month): (r.discharged, r.ready_days, r.liable_days, r.amount) for r in rows}


def test_skaraborg_pays_the_days_above_an_average_of_three() -> None:
    stories = [
        # Göteborg (1480), March 2022: ready days 1, 2 and 9 (calendar days, day 0 not counted).
        _discharged("a", "1480", "2022-03-07 10:00", "2022-03-08 10:00"),
        _discharged("b", "1480", "2022-03-07 10:00", "2022-03-09 10:00"),
        _discharged("c", "1480", "2022-03-07 10:00", "2022-03-16 10:00"),
        # Borås (1490): ready days 2 and 4, average exactly 3: not above it.
        _discharged("d", "1490", "2022-03-07 10:00", "2022-03-09 10:00"),
        _discharged("e", "1490", "2022-03-07 10:00", "2022-03-11 10:00"),
    ]
    assert _months(stories, "skaraborg", date(2022, 3, 1), date(2022, 4, 1)) == {
        # 1480: 12 days over 3 patients, average 4 > 3: pays 12 − 3 × 3 = 3 days × 9 300.
        ("1480", "2022-03"): (3, 12, 3, 27900),
        # 1490: 6 days over 2 patients, average 3, not above: nothing.
        ("1490", "2022-03"): (2, 6, 0, 0),
    }


def test_vastra_gotaland_judges_a_rolling_three_month_average() -> None:
    stories = [
        # January: 5 and 5 days; February: 1 day; March: 2 days (all Göteborg).
        _discharged("j1", "1480", "2022-01-10 10:00", "2022-01-15 10:00"),
        _discharged("j2", "1480", "2022-01-10 10:00", "2022-01-15 10:00"),
        _discharged("f1", "1480", "2022-02-10 10:00", "2022-02-11 10:00"),
        _discharged("m1", "1480", "2022-03-10 10:00", "2022-03-12 10:00"),
    ]
    assert _months(stories, "vastra-gotaland", date(2022, 1, 1), date(2022, 4, 1)) == {
        # January: window Nov–Jan holds 10 days / 2 patients = 5 > 3: pays 10 − 2 × 3 = 4 days.
        ("1480", "2022-01"): (2, 10, 4, 37200),
        # February: window Dec–Feb 11 / 3 ≈ 3.7 > 3, but February's own 1 day is below 3: nothing.
        ("1480", "2022-02"): (1, 1, 0, 0),
        # March: window Jan–Mar 13 / 4 = 3.25 > 3; March's 2 days are below 3: nothing.
        ("1480", "2022-03"): (1, 2, 0, 0),
    }


def test_per_case_days_are_split_by_calendar_month() -> None:
    # lagen, day 0 Mon 28 Mar 2022; 29–31 free; 1–4 Apr paid, all in April.
    # Day 0 Sun 27 Feb; 28 Feb, 1–2 Mar free; 3 Mar – 2 Apr: 29 days in March, 2 in April.
    stories = [
        _discharged("x", "1480", "2022-03-28 10:00", "2022-04-04 10:00"),
        _discharged("y", "1480", "2022-02-27 10:00", "2022-04-02 10:00"),
    ]
    assert _months(stories, "lagen", date(2022, 3, 1), date(2022, 5, 1)) == {
        ("1480", "2022-03"): (0, 0, 29, 29 * 9300),
        # Both discharged in April: 7 + 34 days ready; liable 1–4 Apr (x) and 1–2 Apr (y).
        ("1480", "2022-04"): (2, 7 + 34, 4 + 2, 6 * 9300),
    }
