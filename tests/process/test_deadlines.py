"""LUS deadlines, with the clock passed in: due times, met, late, open and overdue."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from adapter.config import PROJECT_ROOT
from adapter.process.deadlines import Deadline, DeadlineStatus, deadlines
from adapter.process.measures import outcome_measures
from adapter.read.case_view import next_deadline
from adapter.rules_config import load_rules
from tests.support.lus_story import VC, Story, when

RULES = load_rules(PROJECT_ROOT / "examples" / "config")
MEDDIX = replace(RULES.deadlines, kallelse_cutoff=when("2026-01-01 14:00").time())


def _by_kind(story: Story, now: str, rules: object = RULES) -> dict[str, Deadline]:
    return {d.kind: d for d in deadlines(story.case(), when(now), rules)}  # type: ignore[arg-type]


def test_inskrivningsmeddelande_within_24_elapsed_hours_across_the_dst_night() -> None:
    # Admitted Sat 28 Mar 2026 12:00 (+01:00); the clocks go forward that night, so 24 hours later
    # the wall clock reads Sun 13:00 (+02:00). Sent Sun 12:30: on time, though a wall-clock
    # "same time tomorrow" would call it late.
    story = Story("2026-03-28 14:00", admitted_before=timedelta(hours=2))
    story.events[0] = replace(story.events[0], occurred_at=when("2026-03-29 12:30"))
    deadline = _by_kind(story, "2026-03-30 00:00")["inskrivningsmeddelande"]
    assert deadline.due == when("2026-03-29T13:00:00+02:00")
    assert deadline.status is DeadlineStatus.MET
    story.events[0] = replace(story.events[0], occurred_at=when("2026-03-29 13:01"))
    assert _by_kind(story, "2026-03-30 00:00")["inskrivningsmeddelande"].status is DeadlineStatus.LATE


def test_kallelse_is_due_by_the_end_of_the_third_day_after_utskrivningsklar() -> None:
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00")  # Monday
    open_ = _by_kind(story, "2026-11-25 12:00")["kallelse-sip"]
    assert open_.due == when("2026-11-27 00:00")  # Thu 26 is the third day
    assert open_.status is DeadlineStatus.OPEN and open_.sender == VC  # the vårdcentral calls the SIP
    assert _by_kind(story, "2026-11-27 00:00")["kallelse-sip"].status is DeadlineStatus.OVERDUE
    story.kallelse("2026-11-26 23:00")
    assert _by_kind(story, "2026-11-30 00:00")["kallelse-sip"].status is DeadlineStatus.MET


def test_a_kallelse_cut_off_dates_an_afternoon_kallelse_to_the_next_weekday() -> None:
    # With Meddix's 14:00 cut-off a kallelse sent Thu 26 at 15:00 counts from Fri 27: late.
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00").kallelse("2026-11-26 15:00")
    assert _by_kind(story, "2026-11-30 00:00", RULES)["kallelse-sip"].status is DeadlineStatus.MET
    assert _by_kind(story, "2026-11-30 00:00", MEDDIX)["kallelse-sip"].status is DeadlineStatus.LATE


def test_no_kallelse_deadline_when_only_one_principal_is_needed() -> None:
    story = Story("2026-11-23 10:00", needs_both=False).klar("2026-11-23 10:00")
    assert "kallelse-sip" not in _by_kind(story, "2026-12-30 00:00")


def test_a_notice_withdrawn_in_time_does_not_start_the_kallelse_deadline() -> None:
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00").atertag("2026-11-24 09:00")
    assert "kallelse-sip" not in _by_kind(story, "2026-12-30 00:00")
    story.klar("2026-11-30 10:00")
    assert _by_kind(story, "2026-12-01 00:00")["kallelse-sip"].due == when("2026-12-04 00:00")


def test_a_discharge_before_the_kallelse_deadline_keeps_it() -> None:
    # The SIP can be held after discharge: the kallelse is still owed.
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00").ut("2026-11-24 10:00")
    assert _by_kind(story, "2026-11-28 00:00")["kallelse-sip"].status is DeadlineStatus.OVERDUE


def test_utskrivningsmeddelande_at_the_latest_on_the_day_of_discharge() -> None:
    on_time = Story("2026-11-23 10:00").ut("2026-11-24 15:00", sent="2026-11-24 23:59")
    late = Story("2026-11-23 10:00").ut("2026-11-24 15:00", sent="2026-11-25 00:05")
    assert _by_kind(on_time, "2026-11-30 00:00")["utskrivningsmeddelande"].status is DeadlineStatus.MET
    assert _by_kind(late, "2026-11-30 00:00")["utskrivningsmeddelande"].status is DeadlineStatus.LATE
    assert "utskrivningsmeddelande" not in _by_kind(Story("2026-11-23 10:00"), "2026-11-30 00:00")


def test_a_cancelled_case_has_no_deadlines() -> None:
    story = Story("2026-11-23 10:00")
    story.makulera("2026-11-23 11:00", story.last_id)
    assert deadlines(story.case(), when("2026-12-30 00:00"), RULES) == []


def test_death_closes_the_open_kallelse_deadline() -> None:
    # Ready Monday, kallelse due by the end of Thursday; the patient dies Tuesday, none sent.
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00")
    assert _by_kind(story, "2026-11-24 09:00")["kallelse-sip"].status is DeadlineStatus.OPEN
    story.dod("2026-11-24 10:00")
    after_death = _by_kind(story, "2026-11-24 12:00")
    assert set(after_death) == {"inskrivningsmeddelande"}  # no next deadline left to show
    # Weeks later it has not become overdue either: it is gone, not waiting.
    assert set(_by_kind(story, "2026-12-30 00:00")) == {"inskrivningsmeddelande"}
    # So neither the dashboard's next deadline nor the compliance measures see it.
    found = deadlines(story.case(), when("2026-12-30 00:00"), RULES)
    assert next_deadline(found) is None
    measures = outcome_measures([story.case()], when("2026-11-01 00:00"), when("2027-01-01 00:00"), RULES)
    assert "kallelse-sip" not in measures.compliance_by_kind


def test_a_deadline_missed_before_the_death_stays_missed() -> None:
    story = Story("2026-11-23 10:00").klar("2026-11-23 10:00").dod("2026-11-30 10:00")
    kallelse = _by_kind(story, "2026-12-30 00:00")["kallelse-sip"]
    assert kallelse.due == when("2026-11-27 00:00") and kallelse.status is DeadlineStatus.OVERDUE
