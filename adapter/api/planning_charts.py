"""The dashboard's charts of planning together (adapter/process/planering.py says what each
counts): planning meetings per site and week, the lead time from utskrivningsklar to the planning
meeting, the share of the tidbok's bookable times used, and the avvikelser per party and month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from adapter.api.charts import Chart, bar_chart
from adapter.process.avvikelser import Deviation
from adapter.process.case import DischargeCase
from adapter.process.planering import (
    SlotTime,
    deviations_per_party,
    lead_times,
    meetings_per_site,
    slot_use,
)
from adapter.routing.table import RoutingTable


def planning_charts(
    cases: Sequence[DischargeCase],
    slots: Sequence[SlotTime],
    found: Sequence[Deviation],
    weeks: Sequence[tuple[str, date]],
    months: Sequence[tuple[str, str]],
    routing: RoutingTable,
) -> list[Chart]:
    """`weeks`: (label, Monday); `months`: (label, YYYY-MM)."""
    week_labels, mondays = [label for label, _ in weeks], [monday for _, monday in weeks]
    meetings = meetings_per_site(cases, mondays, routing.site_of)
    lead = lead_times(cases, mondays)
    used = slot_use(slots, mondays)
    per_party = deviations_per_party(found, [key for _, key in months])
    return [
        bar_chart(
            "planeringsmoten-per-plats",
            "Planeringsmöten per plats och vecka",
            "Antal planerings- och SIP-möten som hålls under veckan (avbokade räknas inte), per plats"
            " för den enhet där patienten vårdas.",
            week_labels,
            [(name, [float(n) for n in counts]) for name, counts in meetings.items()],
            "möten",
            whole=True,
        ),
        bar_chart(
            "ledtid-till-planeringsmote",
            "Dagar från utskrivningsklar till planeringsmöte",
            "Median och 90:e percentil av dagarna från att patienten blev utskrivningsklar till det"
            " första planeringsmötet därefter, för möten som hålls under veckan.",
            week_labels,
            [("Median", list(lead.median)), ("90:e percentil", list(lead.p90))],
            "dagar",
        ),
        bar_chart(
            "andel-bokade-tider",
            "Andel bokade tider i tidboken",
            "Andel av de bokningsbara tiderna för planeringsmöten (lediga eller bokade) som har bokats,"
            " per enhet som publicerar tider och vecka.",
            week_labels,
            [(routing.name_of(unit), shares) for unit, shares in used.items()],
            "%",
            maximum=100.0,
        ),
        bar_chart(
            "avvikelser-per-part",
            "Avvikelser per part och månad",
            "Antal avvikelser per ansvarig part och månad: upptäckta i ärendena och rapporterade för"
            " hand (lus-adapter avvikelser ger dem var för sig).",
            [label for label, _ in months],
            [(routing.name_of(party), [float(n) for n in counts]) for party, counts in per_party.items()],
            "avvikelser",
            whole=True,
        ),
    ]
