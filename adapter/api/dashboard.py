"""The dashboard: a server-rendered page for process coordinators and integration teams — open
cases with their next deadline, overdue items, the delivery queue and dead letters per
destination, and charts of the outcome measures. Swedish text; no script, nothing fetched from
elsewhere; scoped to the calling party like every read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from adapter.api.case_view import Reader, TimelineEntry, local, next_deadline, reader, rules_path
from adapter.api.charts import Chart, bar_chart, number, quantity
from adapter.api.holdings import HeldCase
from adapter.api.signoff_view import planning_json
from adapter.process.betalningsansvar import betalningsansvar
from adapter.process.case import CaseState, DischargeCase
from adapter.process.deadlines import Deadline, deadlines
from adapter.process.kalender import STOCKHOLM, day_start, local_day
from adapter.process.measures import outcome_measures
from adapter.process.rules import ProcessRules
from adapter.routing.table import RoutingTable
from adapter.store import queries
from adapter.store.outbox import held_by_recipient

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


@dataclass(frozen=True)
class OpenCase:
    case_id: str
    state: str
    unit: str
    admitted_at: datetime
    expected_discharge: date | None
    ready_since: datetime | None
    next_deadline: Deadline | None
    liable_days: int


@dataclass(frozen=True)
class Overdue:
    case_id: str
    deadline: Deadline
    responsible: str


@dataclass(frozen=True)
class Destination:
    name: str
    hsa_id: str
    pending: int
    delivered: int
    dead: int
    oldest_pending: float | None
    held_lines: int = 0  # (case, recipient) lines a dead letter holds
    held_messages: int = 0  # messages waiting behind them


@router.get("/dashboard", response_class=HTMLResponse, summary="Översikt (HTML)")
def dashboard(
    request: Request,
    weeks: int = Query(12, alias="veckor", ge=1, le=104, description="Veckor i diagrammen per vecka"),
    months: int = Query(6, alias="manader", ge=1, le=36, description="Månader i diagrammet per månad"),
    read: Reader = Depends(reader),
) -> HTMLResponse:
    routing, rules, now = read.runtime.routing, read.rules, read.now
    held = read.cases()
    with read.runtime.store.reading() as conn:
        queue = queries.queue_by_recipient(conn)
        held_lines = held_by_recipient(conn)
    context = {
        "party": _name(routing, read.party),
        "now": now,
        "agreement": rules.agreement.name,
        "rules_file": rules_path(read.runtime.settings).name,
        "open_cases": open_cases(held, rules, now, routing),
        "overdue": overdue(held, rules, now, routing),
        "destinations": destinations(queue, routing, read.party, held_lines),
        "charts": charts([h.case for h in held], rules, now, weeks, months, routing),
        "kinds": read.runtime.mapper.terms.codes("lus-event"),
        "states": STATE_LABELS,
        "deadline_labels": DEADLINE_LABELS,
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


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
        context = {"party": _name(routing, read.party), "now": read.now, "case_id": case_id}
        return templates.TemplateResponse(request, "not_found.html", context, status_code=404)
    found = deadlines(held.case, read.now, read.rules)
    kinds = read.runtime.mapper.terms.codes("lus-event")
    context = {
        "party": _name(routing, read.party),
        "now": read.now,
        "case": held.case,
        "state": STATE_LABELS[held.case.state],
        "unit": _name(routing, held.case.unit),
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


# --- what the page shows, computed apart from HTTP ---


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


def open_cases(
    held: list[HeldCase], rules: ProcessRules, now: datetime, routing: RoutingTable
) -> list[OpenCase]:
    """Cases not closed, the most urgent first (an overdue or the earliest deadline)."""
    rows = []
    for h in held:
        case = h.case
        if case.state.closed:
            continue
        rows.append(
            OpenCase(
                case_id=case.case_id,
                state=case.state.value,
                unit=_name(routing, case.unit),
                admitted_at=case.admitted_at,
                expected_discharge=case.expected_discharge,
                ready_since=case.utskrivningsklar_at,
                next_deadline=next_deadline(deadlines(case, now, rules)),
                liable_days=betalningsansvar(case, rules.agreement, now).liable_days,
            )
        )
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        rows, key=lambda r: (r.next_deadline.due.astimezone(UTC) if r.next_deadline else far, r.case_id)
    )


def overdue(held: list[HeldCase], rules: ProcessRules, now: datetime, routing: RoutingTable) -> list[Overdue]:
    found = [
        Overdue(h.case.case_id, d, _name(routing, d.sender) if d.sender else "–")
        for h in held
        for d in deadlines(h.case, now, rules)
        if d.overdue
    ]
    return sorted(found, key=lambda o: o.deadline.due.astimezone(UTC))


def destinations(
    rows: list[queries.QueueRow],
    routing: RoutingTable,
    party: str,
    held: Mapping[str, tuple[int, int]] | None = None,
) -> list[Destination]:
    """The outbox per recipient, with the lines dead letters hold. Another party than this
    adapter's own sees only its own queue."""
    own = party == routing.self_.hsa_id
    by_recipient: dict[str, dict[str, queries.QueueRow]] = defaultdict(dict)
    for row in rows:
        if own or row.recipient == party:
            by_recipient[row.recipient][row.status] = row
    out = []
    for recipient, statuses in sorted(by_recipient.items()):
        pending = statuses.get("pending")
        out.append(
            Destination(
                name=_name(routing, recipient),
                hsa_id=recipient,
                pending=pending.count if pending else 0,
                delivered=statuses["delivered"].count if "delivered" in statuses else 0,
                dead=statuses["dead"].count if "dead" in statuses else 0,
                oldest_pending=pending.oldest_created_at if pending else None,
                held_lines=(held or {}).get(recipient, (0, 0))[0],
                held_messages=(held or {}).get(recipient, (0, 0))[1],
            )
        )
    return out


def charts(
    cases: list[DischargeCase],
    rules: ProcessRules,
    now: datetime,
    weeks: int,
    months: int,
    routing: RoutingTable,
) -> list[Chart]:
    week_starts = _week_starts(now, weeks)
    labels = [f"v. {s.isocalendar().week}" for s in week_starts]
    share: list[float | None] = []
    median: list[float | None] = []
    p90: list[float | None] = []
    for start in week_starts:
        end = start + timedelta(days=7)
        # Only discharges in the week count for these measures: leave the other cases out.
        discharged = [c for c in cases if c.discharged_at is not None and start <= c.discharged_at < end]
        m = outcome_measures(discharged, _midnight(start), _midnight(end), rules, now=now)
        share.append(m.share_within_24h * 100 if m.share_within_24h is not None else None)
        median.append(m.median_days_ready_to_discharge)
        p90.append(m.p90_days_ready_to_discharge)
    first_month = _month_start(local_day(now), months - 1)
    end_month = _month_start(local_day(now), -1)
    month_labels = _month_labels(first_month, months)
    liable: dict[str, dict[str, int]] = defaultdict(dict)
    m = outcome_measures(cases, day_start(first_month), day_start(end_month), rules, now=now)
    for row in m.betalningsansvar:
        liable[row.municipality][row.month] = row.liable_days
    municipalities = sorted(liable)
    return [
        bar_chart(
            "andel-inom-24h",
            "Utskrivna inom 24 timmar från utskrivningsklar",
            "Andel av patienterna som skrevs ut under veckan och som skrevs ut inom 24 timmar efter"
            " att de blev utskrivningsklara, per vecka.",
            labels,
            [("Andel inom 24 h", share)],
            "%",
            maximum=100.0,
        ),
        bar_chart(
            "dagar-till-utskrivning",
            "Dagar från utskrivningsklar till utskrivning",
            "Median och 90:e percentil av dagarna från utskrivningsklar till utskrivning, för patienter"
            " utskrivna under veckan.",
            labels,
            [("Median", median), ("90:e percentil", p90)],
            "dagar",
        ),
        bar_chart(
            "betalningsansvar-per-kommun",
            "Betalningsansvarsdagar per kommun och månad",
            f"Dagar med kommunalt betalningsansvar enligt överenskommelsen {rules.agreement.name},"
            " per kommun och månad.",
            [label for label, _ in month_labels],
            [
                (_municipality(routing, code), [float(liable[code].get(key, 0)) for _, key in month_labels])
                for code in municipalities
            ],
            "dagar",
            whole=True,
        ),
    ]


def _week_starts(now: datetime, weeks: int) -> list[datetime]:
    today = local_day(now)
    monday = today - timedelta(days=today.weekday())
    return [day_start(monday - timedelta(weeks=n)) for n in range(weeks - 1, -1, -1)]


def _midnight(moment: datetime) -> datetime:
    return day_start(moment.astimezone(STOCKHOLM).date())


def _month_start(day: date, back: int) -> date:
    """The first day of the month `back` months before the month of `day` (negative: after)."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


_MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


def _month_labels(first: date, months: int) -> list[tuple[str, str]]:
    """(label, YYYY-MM) for `months` months from `first`."""
    out = []
    for n in range(months):
        day = _month_start(first, -n)
        out.append((f"{_MONTHS[day.month - 1]} {day.year}", f"{day.year:04d}-{day.month:02d}"))
    return out


def _name(routing: RoutingTable, hsa_id: str) -> str:
    party = routing.party(hsa_id)
    return party.name if party else hsa_id


def _municipality(routing: RoutingTable, code: str) -> str:
    party = routing.municipality(code)
    return f"{party.name} ({code})" if party else f"Kommun {code}"
