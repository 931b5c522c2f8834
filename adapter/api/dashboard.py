"""The dashboard: a server-rendered page for process coordinators and integration teams — open
cases with their next deadline, overdue items, the delivery queue and dead letters per
destination, and charts of the outcome measures. Swedish text; no script, nothing fetched from
elsewhere; scoped to the calling party like every read. What it shows is computed in
adapter/read/dashboard.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from adapter.api.charts import Chart, bar_chart, number, quantity
from adapter.api.planning_charts import planning_charts
from adapter.api.reader import Reader, reader
from adapter.api.signoff_view import planning_json
from adapter.process.betalningsansvar import betalningsansvar
from adapter.process.case import CaseState, DischargeCase
from adapter.process.deadlines import deadlines
from adapter.process.kalender import local_day
from adapter.process.rules import ProcessRules
from adapter.read.avvikelser import Period, collect, parties_from
from adapter.read.case_view import TimelineEntry, local, next_deadline
from adapter.read.dashboard import (
    bookable_slots,
    delivery_queue,
    liable_days,
    month_labels,
    month_start,
    open_cases,
    overdue,
    party_name,
    week_starts,
    weekly_measures,
)
from adapter.read.holdings import HeldCase
from adapter.routing.table import RoutingTable
from adapter.rules_config import RULES_FILE

router = APIRouter(tags=["dashboard"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

STATE_LABELS = {
    CaseState.INSKRIVEN: "Inskriven",
    CaseState.UTSKRIVNINGSKLAR: "Utskrivningsklar",
    CaseState.UTSKRIVEN: "Utskriven",
    CaseState.AVLIDEN: "Avliden",
    CaseState.MAKULERAD: "Makulerad",
}
DEADLINE_LABELS = {"met": "I tid", "late": "Sen", "overdue": "Försenad", "open": "Öppen"}
DELIVERY_LABELS = {"pending": "Väntar", "delivered": "Levererad", "dead": "Död post"}
TIMELINE_LABELS = {
    "meddelande-in": "Meddelande in",
    "meddelande-ut": "Meddelande ut",
    "leverans": "Levererat",
    "kvittens": "Kvittens",
    "tidsgrans": "Tidsgräns",
    "betalningsansvar": "Betalningsansvar",
}


def when(value: datetime | float | None) -> str:
    """Swedish local time for people: 2026-11-23 09:02."""
    text = local(value)
    return text[:16].replace("T", " ") if text else "–"


templates.env.filters["when"] = when
templates.env.filters["number"] = number
templates.env.filters["quantity"] = quantity


@router.get("/dashboard", response_class=HTMLResponse, summary="Översikt (HTML)")
def dashboard(
    request: Request,
    weeks: int = Query(12, alias="veckor", ge=1, le=104, description="Veckor i diagrammen per vecka"),
    months: int = Query(6, alias="manader", ge=1, le=36, description="Månader i diagrammet per månad"),
    read: Reader = Depends(reader),
) -> HTMLResponse:
    routing, rules, now = read.runtime.routing, read.rules, read.now
    held = read.cases()
    outcome, planning = all_charts(read, held, weeks, months)
    context = {
        "party": party_name(routing, read.party),
        "now": now,
        "agreement": rules.agreement.name,
        "rules_file": RULES_FILE,
        "open_cases": open_cases(held, rules, now, routing),
        "overdue": overdue(held, rules, now, routing),
        "destinations": delivery_queue(read.runtime.store, routing, read.party),
        "charts": outcome,
        "planning_charts": planning,
        "kinds": read.runtime.mapper.terms.codes("lus-event"),
        "states": STATE_LABELS,
        "deadline_labels": DEADLINE_LABELS,
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


@router.get("/dashboard/diagram", summary="Översiktens diagram som JSON: kategorier och värden per serie")
def dashboard_charts(
    weeks: int = Query(12, alias="veckor", ge=1, le=104, description="Veckor i diagrammen per vecka"),
    months: int = Query(6, alias="manader", ge=1, le=36, description="Månader i diagrammen per månad"),
    read: Reader = Depends(reader),
) -> JSONResponse:
    """The numbers behind the dashboard's charts, for the calling party as the page shows them."""
    outcome, planning = all_charts(read, read.cases(), weeks, months)
    return JSONResponse(
        {
            "party": read.party,
            "generated_at": read.now.isoformat(),
            "charts": [c.to_json() for c in (*outcome, *planning)],
        }
    )


def all_charts(
    read: Reader, held: list[HeldCase], weeks: int, months: int
) -> tuple[list[Chart], list[Chart]]:
    """The outcome measures' charts and those of planning together, over the cases the reader holds,
    this adapter's tidbok and the avvikelser of those cases."""
    runtime, rules, now = read.runtime, read.rules, read.now
    cases = [h.case for h in held]
    starts = week_starts(now, weeks)
    first_month = month_start(local_day(now), months - 1)
    period = Period(first=first_month, last=month_start(local_day(now), 0))
    found = collect(cases, period, rules, parties_from(runtime.routing, runtime.steps), now).deviations
    planning = planning_charts(
        cases,
        bookable_slots(runtime.store, starts),
        found,
        [(f"v. {s.isocalendar().week}", local_day(s)) for s in starts],
        month_labels(first_month, months),
        runtime.routing,
    )
    return charts(cases, rules, now, weeks, months, runtime.routing), planning


@router.get("/dashboard/arenden", summary="Sök ett ärende på dess id, öppet eller avslutat (HTML)")
def find_case(case_id: str = Query("", alias="arende", max_length=200)) -> Response:
    """The search box: to the case's page (its 404 page says when there is no such case)."""
    case_id = case_id.strip()
    target = f"/dashboard/arenden/{quote(case_id, safe='')}" if case_id else "/dashboard"
    return RedirectResponse(target, status_code=303)


@router.get("/dashboard/arenden/{case_id}", response_class=HTMLResponse, summary="Ett ärende (HTML)")
def case_page(case_id: str, request: Request, read: Reader = Depends(reader)) -> HTMLResponse:
    routing = read.runtime.routing
    try:
        held = read.case(case_id, "read-case", {"view": "dashboard"})
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        context = {"party": party_name(routing, read.party), "now": read.now, "case_id": case_id}
        return templates.TemplateResponse(request, "not_found.html", context, status_code=404)
    found = deadlines(held.case, read.now, read.rules)
    kinds = read.runtime.mapper.terms.codes("lus-event")
    context = {
        "party": party_name(routing, read.party),
        "now": read.now,
        "case": held.case,
        "state": STATE_LABELS[held.case.state],
        "unit": party_name(routing, held.case.unit),
        "deadlines": found,
        "next_deadline": next_deadline(found),
        "liability": betalningsansvar(held.case, read.rules.agreement, read.now),
        "entries": [(e.to_json(), what(e, kinds)) for e in read.timeline(held)],
        "kinds": kinds,
        "deadline_labels": DEADLINE_LABELS,
        "delivery_labels": DELIVERY_LABELS,
        "timeline_labels": TIMELINE_LABELS,
        "names": {p.hsa_id: p.name for p in routing.parties},
        "planning": planning_json(held.case, routing, read.runtime.steps),
    }
    return templates.TemplateResponse(request, "case.html", context)


def what(entry: TimelineEntry, kinds: Mapping[str, str]) -> str:
    """The "Vad" of a timeline row: what the message, delivery, deadline or liable period was about."""
    data = entry.data
    kind = kinds.get(data.get("kind") or "", data.get("kind"))
    if entry.type == "kvittens":
        return f"Kvittens ({data['code']}) av meddelande {data['message_id']}"
    if entry.type == "betalningsansvar":
        days, amount = quantity(data["days"], "dagar", 0), quantity(data["amount"], "kr", 0)
        return f"{data['from']} – {data['to']}: {days}, {amount}"
    if entry.type == "tidsgrans" and kind:
        return f"{kind} senast"
    if entry.type == "leverans" and kind:
        return f"{kind} levererat"
    return kind or data.get("message_id") or TIMELINE_LABELS[entry.type]


def charts(
    cases: list[DischargeCase],
    rules: ProcessRules,
    now: datetime,
    weeks: int,
    months: int,
    routing: RoutingTable,
) -> list[Chart]:
    weekly = weekly_measures(cases, rules, now, weeks)
    liable = liable_days(cases, rules, now, months, routing)
    return [
        bar_chart(
            "andel-inom-24h",
            "Utskrivna inom 24 timmar från utskrivningsklar",
            "Andel av patienterna som skrevs ut under veckan och som skrevs ut inom 24 timmar efter"
            " att de blev utskrivningsklara, per vecka.",
            weekly.labels,
            [("Andel inom 24 h", weekly.share_within_24h)],
            "%",
            maximum=100.0,
        ),
        bar_chart(
            "dagar-till-utskrivning",
            "Dagar från utskrivningsklar till utskrivning",
            "Median och 90:e percentil av dagarna från utskrivningsklar till utskrivning, för patienter"
            " utskrivna under veckan.",
            weekly.labels,
            [("Median", weekly.median_days), ("90:e percentil", weekly.p90_days)],
            "dagar",
        ),
        bar_chart(
            "betalningsansvar-per-kommun",
            "Betalningsansvarsdagar per kommun och månad",
            f"Dagar med kommunalt betalningsansvar enligt överenskommelsen {rules.agreement.name},"
            " per kommun och månad.",
            liable.months,
            liable.by_municipality,
            "dagar",
            whole=True,
        ),
    ]
