"""Outcome measures over a period, on a small hand-counted set of stays."""

from __future__ import annotations

from adapter.config import PROJECT_ROOT
from adapter.process.events import NeedsCategory, PlaneringsmoteAvbokat
from adapter.process.measures import outcome_measures
from adapter.rules_config import load_rules
from tests.support.lus_story import SV, VC, Story, when

RULES = load_rules(PROJECT_ROOT / "examples" / "config")
START, END = when("2026-03-01 00:00"), when("2026-04-01 00:00")


def _stays() -> list[Story]:
    a = Story("2026-03-02 08:00", case_id="a").klar("2026-03-02 08:00").kallelse("2026-03-02 09:00")
    a.ut("2026-03-02 20:00")  # 12 hours: within 24 h
    # Sat 28 Mar 12:00 → Sun 29 Mar 12:00 is 23 hours (the clocks go forward): within 24 h.
    b = Story("2026-03-28 12:00", case_id="b").klar("2026-03-28 12:00").kallelse("2026-03-28 13:00")
    b.ut("2026-03-29 12:00")
    c = Story("2026-03-10 08:00", case_id="c").klar("2026-03-10 08:00").kallelse("2026-03-10 09:00")
    c.ut("2026-03-11 08:00")  # exactly 24 hours: within
    # 5 days; its kallelse was late (day 4); meetings at two sites (a third cancelled).
    d = Story("2026-03-02 08:00", case_id="d", municipality="1490").klar("2026-03-02 08:00")
    d.kallelse("2026-03-06 09:00").mote("2026-03-06 09:00", "2026-03-06 14:00", "Halmstad")
    d.mote("2026-03-06 10:00", "2026-03-07 14:00", "Varberg").underlag(
        "2026-03-06 11:00", NeedsCategory.NEW_HEALTH
    )
    d.mote("2026-03-06 10:30", "2026-03-08 14:00", "Kungsbacka")
    d.add(
        PlaneringsmoteAvbokat(
            message_id="d-cancel",
            case_id="d",
            occurred_at=when("2026-03-06 10:40"),
            sender=VC,
            appointment_id=d.events[-1].appointment_id,
        )
    )  # type: ignore[attr-defined]
    d.ut("2026-03-07 08:00")
    # Still in hospital, ready since 20 Mar: not in the discharge measures; its kallelse is overdue.
    e = (
        Story("2026-03-20 08:00", case_id="e")
        .klar("2026-03-20 08:00")
        .mote("2026-03-21 08:00", "2026-03-23 10:00", "Halmstad")
    )
    e.underlag("2026-03-21 09:00", NeedsCategory.NEW_SOCIAL)
    return [a, b, c, d, e]


def test_the_measures_of_a_month() -> None:
    cases = [s.case() for s in _stays()]
    m = outcome_measures(cases, START, END, RULES, now=when("2026-04-01 00:00"))
    assert (m.discharged_after_ready, m.discharged_within_24h, m.share_within_24h) == (4, 3, 0.75)
    # Days ready → discharge: 0.5, 0.96 (23 h), 1.0, 5.0: median (0.96 + 1.0) / 2; p90 the 4th of 4.
    assert m.median_days_ready_to_discharge == 0.98
    assert m.p90_days_ready_to_discharge == 5.0
    kallelse = m.compliance_by_kind["kallelse-sip"]
    # a and c on time, d late, e overdue; b's is due at 1 Apr 00:00, outside the period.
    assert (kallelse.met, kallelse.late, kallelse.overdue, kallelse.open) == (2, 1, 1, 0)
    assert kallelse.share_on_time == 0.5
    assert m.compliance_by_kind["inskrivningsmeddelande"].met == 5
    assert m.compliance_by_kind["utskrivningsmeddelande"].met == 4
    # Per sending unit: the hospital sent 5 + 4 on time; the vårdcentral 2 kallelser on time, 1 late,
    # and owes the overdue one (it is the patient's listed vårdcentral).
    assert (m.compliance_by_unit[SV].met, m.compliance_by_unit[SV].due) == (9, 9)
    vc = m.compliance_by_unit[VC]
    assert (vc.met, vc.late, vc.overdue) == (2, 1, 1)
    assert m.meetings_by_site == {"Halmstad": 2, "Varberg": 1}
    assert m.needs_mix == {"new-health": 1, "new-social": 1, "okänd": 3}
    # lagen: e is ready since Fri 20 Mar but has no kallelse: nothing. d (Borås, 1490): day 0 Mon 2;
    # 3–5 free; the kallelse came Fri 6, which is paid, and Sat 7, the discharge day: 2 × 9 300.
    rows = {(r.municipality, r.month): (r.liable_days, r.amount) for r in m.betalningsansvar}
    assert rows == {("1480", "2026-03"): (0, 0), ("1490", "2026-03"): (2, 18600)}


def test_an_empty_period_has_no_shares() -> None:
    m = outcome_measures([], START, END, RULES)
    assert m.share_within_24h is None and m.median_days_ready_to_discharge is None
    assert m.compliance_by_kind == {} and m.betalningsansvar == ()
