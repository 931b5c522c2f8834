"""Avvikelser detected from a case's events: table tests of hand-worked cases, each checked as
detected and as the regional follow-up gets it (the report's document, its JSON and CSV).

Rules are the shipped examples/config/lus-rules.yaml: inskrivningsmeddelande within 24 h of admission,
kallelse till SIP by the end of the 3rd calendar day after utskrivningsklar, utskrivningsmeddelande
on the day of discharge, kvittens within 24 h. All times Swedish local (November 2026: +01:00).
Unless a case says otherwise, the kommun acknowledges every message it receives one hour after it
was sent (tests/support/avvikelser_story.py), so that only the deviation worked out
in the comment remains.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

import orjson
import pytest

from adapter.config import PROJECT_ROOT
from adapter.process.avvikelser import Deviation, Parties, Rule, deviations
from adapter.process.events import Party
from adapter.process.kalender import STOCKHOLM
from adapter.read.avvikelser import Period, as_document, collect, parties_from, to_csv, to_json
from adapter.routing.steps import load_step_table
from adapter.routing.table import load_routing_table
from adapter.rules_config import load_rules
from tests.support.avvikelser_story import KOMMUN_RECEIVES, Case, K
from tests.support.lus_story import SV, VC, when

CONFIG = PROJECT_ROOT / "examples" / "config"
RULES = load_rules(CONFIG)
HUB = Parties(
    kinds={SV: Party.SLUTENVARD, VC: Party.OPPENVARD, K: Party.KOMMUN},
    kommuner={"1480": K},
    kommun_receives=KOMMUN_RECEIVES,
)


def _local(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _row(d: Deviation, case_id: str) -> tuple[object, ...]:
    number = d.message_id.removeprefix(f"{case_id}-") if d.message_id else None
    return (d.rule, d.party, _local(d.since), _local(d.due), _local(d.done_at), number)


# --- the hand-worked cases ---------------------------------------------------------------------
# Each: (name, the case, now, parties, expected deviations as
#        (rule, party responsible, since, due, done, message)).


def case_on_time() -> Case:
    # Admitted Mon 16 Nov 10:00, m1 sent 12:00 (due Tue 17 10:00: met). Fast vårdkontakt named (m2)
    # the same day. Utskrivningsklar Wed 18 10:00 (m3): kallelse due by the end of Sat 21 (19, 20,
    # 21), sent Thu 19 09:00 (m4): met. The kommun's active plan Thu 19 15:00 (m5): it is ready.
    # Discharged Fri 20 10:00, m6 sent then: on the day. Every kommun message acknowledged in 1 h.
    c = Case("2026-11-16 10:00").fvk("2026-11-16 14:00").klar("2026-11-18 10:00")
    return c.kallelse("2026-11-19 09:00").plan("2026-11-19 15:00").ut("2026-11-20 10:00")


def case_inskrivning_late() -> Case:
    # Admitted Mon 16 Nov 10:00; m1 sent Tue 17 10:30, due Tue 17 10:00 (24 h): late by the unit.
    return Case("2026-11-16 10:00", needs_both=False).sent_at("2026-11-17 10:30")


def case_kallelse_late() -> Case:
    # Utskrivningsklar Fri 20 Nov 10:00 (m3): days 21, 22, 23 → due Tue 24 00:00. Kallelse Tue 24
    # 08:00 (m4): late, by the vårdcentral that sent it.
    c = Case("2026-11-18 10:00").fvk("2026-11-18 14:00").klar("2026-11-20 10:00")
    return c.kallelse("2026-11-24 08:00")


def case_kallelse_missing() -> Case:
    # Utskrivningsklar Mon 23 Nov 10:00 (m3): due Fri 27 00:00. No kallelse: at Fri 27 00:00 the
    # vårdcentral (the patient's, which calls the SIP) owes it; one minute earlier nothing is due.
    return Case("2026-11-21 10:00").fvk("2026-11-21 14:00").klar("2026-11-23 10:00")


def case_kallelse_not_needed() -> Case:
    # Only one principal's services needed: no kallelse, no fast vårdkontakt owed; no plan (needs
    # unknown): nothing to wait for. Ready Wed 18, discharged Thu 19 on the day: no deviation.
    return Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00").ut("2026-11-19 10:00")


def case_utskrivning_late() -> Case:
    # Discharged Tue 24 Nov 15:00; m3 sent Wed 25 00:05, due Wed 25 00:00 (end of the day): late.
    c = Case("2026-11-20 10:00", needs_both=False).klar("2026-11-24 09:00")
    return c.ut("2026-11-24 15:00", sent="2026-11-25 00:05")


def case_kvittens_missing() -> Case:
    # Utskrivningsklar Wed 18 Nov 10:00 (m2) never acknowledged: due Thu 19 10:00 (24 h).
    c = Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00")
    c.unacked.add("m2")
    return c


def case_kvittens_late() -> Case:
    # m2 (Wed 18 Nov 10:00) acknowledged Thu 19 12:00, two hours after its due Thu 19 10:00.
    return Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00").ack("2026-11-19 12:00", "m2")


def case_kvittens_error_only() -> Case:
    # m2 answered at once with a transient-error kvittens: not an acknowledgement; none ok by Thu 19
    # 10:00: missing.
    c = Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00")
    return c.ack("2026-11-18 10:05", "m2", code="transient-error")


def case_meeting_after_discharge() -> Case:
    # Ready Wed 18 Nov 10:00 (m2). A meeting booked Wed 18 12:00 (m3) for Sat 21, after the discharge
    # Thu 19 10:00 (m4): allowed. Another booked Fri 20 09:00 (m5), after the discharge: a deviation
    # of the vårdcentral that booked it.
    c = Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00")
    c.mote("2026-11-18 12:00", "2026-11-21 10:00").ut("2026-11-19 10:00")
    return c.mote("2026-11-20 09:00", "2026-11-23 10:00")


def case_before_kommun_ready() -> Case:
    # The unit's planeringsunderlag (m2, new social services) Tue 17 Nov; ready Wed 18 10:00 (m3);
    # the kommun sent only a draft (m4) by the discharge Wed 18 16:00 (m5): the unit discharged the
    # patient before the kommun was ready.
    c = Case("2026-11-16 10:00", needs_both=False).plan("2026-11-17 10:00", sender=SV)
    c.klar("2026-11-18 10:00").plan("2026-11-18 12:00", status="draft")
    return c.ut("2026-11-18 16:00")


def case_kommun_ready() -> Case:
    # As above, but the kommun's plan (m4) is active at 14:00, before the discharge at 16:00.
    c = Case("2026-11-16 10:00", needs_both=False).plan("2026-11-17 10:00", sender=SV)
    c.klar("2026-11-18 10:00").plan("2026-11-18 14:00")
    return c.ut("2026-11-18 16:00")


def case_reported_by_hand() -> Case:
    # As case_kommun_ready (ready at 14:00, discharged 16:00: nothing detected), but the kommun
    # reports at 17:00 (m6) that the unit discharged the patient before it was ready: listed
    # against the unit, in the month of the report.
    return case_kommun_ready().rapport("2026-11-18 17:00", K, "utskriven-innan-kommunen-redo", SV)


def case_reported_other() -> Case:
    # The unit reports a code the rules do not know (m2, Tue 17 Nov 09:00) against the vårdcentral:
    # counted as "annan".
    return Case("2026-11-16 10:00", needs_both=False).rapport("2026-11-17 09:00", SV, "ingen-sadan-kod", VC)


def case_no_utskrivningsklar() -> Case:
    # Discharged Wed 18 Nov 10:00 (m2) with no utskrivningsklar notice ever sent.
    return Case("2026-11-16 10:00", needs_both=False).ut("2026-11-18 10:00")


def case_before_expected_date() -> Case:
    # Expected discharge Wed 25 Nov, changed to Fri 27 on Thu 19 (m2); ready Fri 20 (m3); discharged
    # Tue 24 10:00 (m4), before the last date the others were told, and no new date sent.
    c = (
        Case("2026-11-16 10:00", needs_both=False)
        .expected("2026-11-25")
        .andrat("2026-11-19 10:00", "2026-11-27")
    )
    return c.klar("2026-11-20 10:00").ut("2026-11-24 10:00")


def case_no_fast_vardkontakt() -> Case:
    # Both principals needed. Ready Wed 18 Nov 10:00 (m2), kallelse 14:00 (m3: on time), discharged
    # Thu 19 10:00 (m4); the fast vårdkontakt is named only Thu 19 12:00 (m5), after the discharge.
    c = Case("2026-11-16 10:00").klar("2026-11-18 10:00").kallelse("2026-11-18 14:00")
    return c.ut("2026-11-19 10:00").fvk("2026-11-19 12:00")


def case_kallelse_voided() -> Case:
    # Ready Mon 23 Nov 10:00 (m3); a kallelse Tue 24 09:00 (m4) made void by its sender at 12:00
    # (m5): no kallelse remains, overdue at Fri 27 00:00. The void kallelse needs no kvittens; the
    # makulering (received by the kommun, as the kallelse was) is acknowledged.
    c = Case("2026-11-21 10:00").fvk("2026-11-21 14:00").klar("2026-11-23 10:00")
    return c.kallelse("2026-11-24 09:00").void("2026-11-24 12:00", "m4", VC)


def case_cancelled() -> Case:
    # The inskrivningsmeddelande (late: Tue 17 11:00 for Mon 16 10:00) made void (m2): no case, no
    # deviation.
    c = Case("2026-11-16 10:00", needs_both=False).sent_at("2026-11-17 11:00")
    return c.void("2026-11-17 12:00", "m1", SV)


UNKNOWN_KOMMUN = replace(HUB, kommuner={}, kinds={SV: Party.SLUTENVARD, VC: Party.OPPENVARD})
AT_VARDCENTRAL = replace(HUB, observer=VC)
AT_UNIT = replace(HUB, observer=SV)

IN = Rule.INSKRIVNING_SEN
CASES: list[tuple[str, object, str, Parties, list[tuple[object, ...]]]] = [
    ("on-time", case_on_time, "2026-12-31 00:00", HUB, []),
    (
        "inskrivning-late",
        case_inskrivning_late,
        "2026-11-17 12:00",
        HUB,
        [(IN, SV, "2026-11-16 10:00", "2026-11-17 10:00", "2026-11-17 10:30", "m1")],
    ),
    (
        "kallelse-late",
        case_kallelse_late,
        "2026-11-25 12:00",
        HUB,
        [(Rule.KALLELSE_SEN, VC, "2026-11-20 10:00", "2026-11-24 00:00", "2026-11-24 08:00", "m4")],
    ),
    (
        "kallelse-missing",
        case_kallelse_missing,
        "2026-11-27 00:00",
        HUB,
        [(Rule.KALLELSE_SAKNAS, VC, "2026-11-23 10:00", "2026-11-27 00:00", None, None)],
    ),
    ("kallelse-still-open", case_kallelse_missing, "2026-11-26 23:59", HUB, []),
    ("kallelse-not-needed", case_kallelse_not_needed, "2026-12-31 00:00", HUB, []),
    (
        "utskrivning-late",
        case_utskrivning_late,
        "2026-11-26 00:00",
        HUB,
        [(Rule.UTSKRIVNING_SEN, SV, "2026-11-24 15:00", "2026-11-25 00:00", "2026-11-25 00:05", "m3")],
    ),
    (
        "kvittens-missing",
        case_kvittens_missing,
        "2026-11-19 10:00",
        HUB,
        [(Rule.KVITTENS_SAKNAS, K, "2026-11-18 10:00", "2026-11-19 10:00", None, "m2")],
    ),
    ("kvittens-not-yet-due", case_kvittens_missing, "2026-11-19 09:59", HUB, []),
    (
        "kvittens-late",
        case_kvittens_late,
        "2026-11-20 00:00",
        HUB,
        [(Rule.KVITTENS_SEN, K, "2026-11-18 10:00", "2026-11-19 10:00", "2026-11-19 12:00", "m2")],
    ),
    (
        "kvittens-error-is-no-ack",
        case_kvittens_error_only,
        "2026-11-20 00:00",
        HUB,
        [(Rule.KVITTENS_SAKNAS, K, "2026-11-18 10:00", "2026-11-19 10:00", None, "m2")],
    ),
    (
        "kvittens-unknown-kommun",
        case_kvittens_missing,
        "2026-11-20 00:00",
        UNKNOWN_KOMMUN,
        [(Rule.KVITTENS_SAKNAS, "kommunkod 1480", "2026-11-18 10:00", "2026-11-19 10:00", None, "m2")],
    ),
    # The vårdcentral's sidecar never sees a kvittens for the unit's messages: it does not judge them.
    ("kvittens-not-seen-at-vardcentral", case_kvittens_missing, "2026-11-20 00:00", AT_VARDCENTRAL, []),
    (
        "kvittens-seen-at-unit",
        case_kvittens_missing,
        "2026-11-20 00:00",
        AT_UNIT,
        [(Rule.KVITTENS_SAKNAS, K, "2026-11-18 10:00", "2026-11-19 10:00", None, "m2")],
    ),
    (
        "meeting-after-discharge",
        case_meeting_after_discharge,
        "2026-11-30 00:00",
        HUB,
        [(Rule.MOTE_EFTER_UTSKRIVNING, VC, "2026-11-20 09:00", "2026-11-19 10:00", "2026-11-20 09:00", "m5")],
    ),
    (
        "before-kommun-ready",
        case_before_kommun_ready,
        "2026-11-30 00:00",
        HUB,
        [(Rule.UTSKRIVEN_INNAN_KOMMUNEN_REDO, SV, "2026-11-18 16:00", None, None, None)],
    ),
    ("kommun-ready", case_kommun_ready, "2026-11-30 00:00", HUB, []),
    (
        "reported-by-hand",
        case_reported_by_hand,
        "2026-11-30 00:00",
        HUB,
        [(Rule.UTSKRIVEN_INNAN_KOMMUNEN_REDO, SV, "2026-11-18 17:00", None, None, "m6")],
    ),
    (
        "reported-other",
        case_reported_other,
        "2026-11-17 12:00",
        HUB,
        [(Rule.ANNAN, VC, "2026-11-17 09:00", None, None, "m2")],
    ),
    (
        "no-utskrivningsklar",
        case_no_utskrivningsklar,
        "2026-11-30 00:00",
        HUB,
        [(Rule.UTSKRIVEN_UTAN_UTSKRIVNINGSKLAR, SV, "2026-11-18 10:00", None, None, None)],
    ),
    (
        "before-expected-date",
        case_before_expected_date,
        "2026-11-30 00:00",
        HUB,
        [(Rule.UTSKRIVEN_FORE_BERAKNAT_DATUM, SV, "2026-11-24 10:00", "2026-11-27 00:00", None, None)],
    ),
    (
        "no-fast-vardkontakt",
        case_no_fast_vardkontakt,
        "2026-11-30 00:00",
        HUB,
        [(Rule.FAST_VARDKONTAKT_SAKNAS, VC, "2026-11-19 10:00", None, None, None)],
    ),
    (
        "kallelse-voided",
        case_kallelse_voided,
        "2026-11-27 00:00",
        HUB,
        [(Rule.KALLELSE_SAKNAS, VC, "2026-11-23 10:00", "2026-11-27 00:00", None, None)],
    ),
    ("cancelled-case", case_cancelled, "2026-12-31 00:00", HUB, []),
]


@pytest.mark.parametrize(
    ("build", "now", "parties", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hand_worked_case(
    build: object, now: str, parties: Parties, expected: list[tuple[object, ...]]
) -> None:
    story = build()
    found = deviations(story.case(), when(now), RULES, parties)
    assert [_row(d, story.case_id) for d in found] == expected


BY_HAND = {"reported-by-hand", "reported-other"}
NOVEMBER_TO_DECEMBER = Period(first=date(2026, 11, 1), last=date(2026, 12, 1))


@pytest.mark.parametrize(("name", "build", "now", "parties", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hand_worked_case_through_the_report_and_the_export(
    name: str, build: object, now: str, parties: Parties, expected: list[tuple[object, ...]]
) -> None:
    """The same cases as the regional follow-up gets them: collected for November and December,
    the report's document, and its JSON and CSV (summary per party, month and rule; detail)."""
    story = build()  # type: ignore[operator]
    found = collect([story.case()], NOVEMBER_TO_DECEMBER, RULES, parties, when(now))
    document = orjson.loads(to_json(as_document(found.deviations, NOVEMBER_TO_DECEMBER, when(now), RULES)))

    def local(text: str | None) -> str | None:
        return _local(datetime.fromisoformat(text)) if text else None

    listed = [
        (
            Rule(d["rule"]),
            d["party"],
            local(d["since"]),
            local(d["due"]),
            local(d["done_at"]),
            d["message_id"].removeprefix(f"{story.case_id}-") if d["message_id"] else None,
        )
        for d in document["deviations"]
    ]
    assert listed == expected
    assert all((d["reported_by"] is not None) == (name in BY_HAND) for d in document["deviations"])

    counts = Counter((str(row[1]), str(row[2])[:7], Rule(row[0]).value) for row in expected)
    summary = list(csv.DictReader(io.StringIO(to_csv(document))))
    assert {(r["party"], r["month"], r["rule"]): int(r["count"]) for r in summary} == counts
    assert sum(int(r["reported_by_hand"]) for r in summary) == (len(expected) if name in BY_HAND else 0)
    detail = list(csv.DictReader(io.StringIO(to_csv(document, detail=True))))
    assert [(r["rule"], r["party"], r["case_id"]) for r in detail] == [
        (Rule(row[0]).value, row[1], story.case_id) for row in expected
    ]
    assert set(found.patients) == ({story.case_id} if expected else set())


def test_party_kind_and_month() -> None:
    [late] = deviations(case_kallelse_late().case(), when("2026-11-25 12:00"), RULES, HUB)
    assert late.party_kind is Party.OPPENVARD and late.month == "2026-11" and late.case_id == "case-1"
    # A kommun not in the routing table is still a kommun.
    [missing] = deviations(case_kvittens_missing().case(), when("2026-11-20 00:00"), RULES, UNKNOWN_KOMMUN)
    assert missing.party_kind is Party.KOMMUN


def test_the_kvittens_wait_is_configuration() -> None:
    # m2 acknowledged 26 h after it was sent: late with 24 h, on time with 48 h.
    story = Case("2026-11-16 10:00", needs_both=False).klar("2026-11-18 10:00").ack("2026-11-19 12:00", "m2")
    slow_kommun = replace(RULES, deadlines=replace(RULES.deadlines, kvittens_within=timedelta(hours=48)))
    assert [d.rule for d in deviations(story.case(), when("2026-11-30 00:00"), RULES, HUB)] == [
        Rule.KVITTENS_SEN
    ]
    assert deviations(story.case(), when("2026-11-30 00:00"), slow_kommun, HUB) == []


def test_parties_from_the_routing_and_step_tables() -> None:
    parties = parties_from(load_routing_table(CONFIG), load_step_table(CONFIG))
    assert parties.kommun_receives == KOMMUN_RECEIVES
    assert parties.kommuner == {"1480": K}
    assert parties.kinds == {SV: Party.SLUTENVARD, VC: Party.OPPENVARD, K: Party.KOMMUN}
    assert parties.observer == SV


def test_a_deviation_reported_by_hand_says_who_reported_it() -> None:
    [reported] = deviations(case_reported_by_hand().case(), when("2026-11-30 00:00"), RULES, HUB)
    assert (reported.reported_by, reported.party_kind) == (K, Party.SLUTENVARD)
    [detected] = deviations(case_before_kommun_ready().case(), when("2026-11-30 00:00"), RULES, HUB)
    assert detected.reported_by is None


def test_the_avvikelse_code_system_lists_the_rules() -> None:
    system = orjson.loads((PROJECT_ROOT / "profiles" / "CodeSystem-avvikelse.json").read_bytes())
    assert [c["code"] for c in system["concept"]] == [r.value for r in Rule]
