"""What the dashboard shows, computed apart from HTTP and HTML (adapter/api/dashboard.py):
open cases with their next deadline, overdue items, the delivery queue and dead letters per
destination, and the outcome measures its charts draw. Scoped to the reading party by the caller."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from adapter.process.betalningsansvar import betalningsansvar
from adapter.process.case import DischargeCase
from adapter.process.deadlines import Deadline, deadlines
from adapter.process.kalender import STOCKHOLM, day_start, local_day
from adapter.process.measures import outcome_measures
from adapter.process.planering import SlotTime
from adapter.process.rules import ProcessRules
from adapter.read.case_view import next_deadline
from adapter.read.holdings import HeldCase
from adapter.routing.table import RoutingTable
from adapter.store import queries, tidbok
from adapter.store.outbox import held_by_recipient
from adapter.store.store import Store


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
                unit=party_name(routing, case.unit),
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
        Overdue(h.case.case_id, d, party_name(routing, d.sender) if d.sender else "–")
        for h in held
        for d in deadlines(h.case, now, rules)
        if d.overdue
    ]
    return sorted(found, key=lambda o: o.deadline.due.astimezone(UTC))


def delivery_queue(store: Store, routing: RoutingTable, party: str) -> list[Destination]:
    """The outbox per recipient as the store holds it now (see `destinations`)."""
    with store.reading() as conn:
        queue = queries.queue_by_recipient(conn)
        held_lines = held_by_recipient(conn)
    return destinations(queue, routing, party, held_lines)


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
                name=party_name(routing, recipient),
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


@dataclass(frozen=True)
class WeeklyMeasures:
    """The outcome measures of the patients discharged in each of the last weeks."""

    labels: list[str]  # "v. 47"
    share_within_24h: list[float | None]  # percent
    median_days: list[float | None]  # from utskrivningsklar to discharge
    p90_days: list[float | None]


def weekly_measures(
    cases: list[DischargeCase], rules: ProcessRules, now: datetime, weeks: int
) -> WeeklyMeasures:
    starts = week_starts(now, weeks)
    share: list[float | None] = []
    median: list[float | None] = []
    p90: list[float | None] = []
    for start in starts:
        end = start + timedelta(days=7)
        # Only discharges in the week count for these measures: leave the other cases out.
        discharged = [c for c in cases if c.discharged_at is not None and start <= c.discharged_at < end]
        m = outcome_measures(discharged, _midnight(start), _midnight(end), rules, now=now)
        share.append(m.share_within_24h * 100 if m.share_within_24h is not None else None)
        median.append(m.median_days_ready_to_discharge)
        p90.append(m.p90_days_ready_to_discharge)
    labels = [f"v. {s.isocalendar().week}" for s in starts]
    return WeeklyMeasures(labels, share, median, p90)


@dataclass(frozen=True)
class LiableDays:
    """Days of municipal betalningsansvar per municipality and month, over the last months."""

    months: list[str]  # "nov 2026"
    by_municipality: list[tuple[str, list[float | None]]]  # (municipality's name, days each month)


def liable_days(
    cases: list[DischargeCase], rules: ProcessRules, now: datetime, months: int, routing: RoutingTable
) -> LiableDays:
    first_month = month_start(local_day(now), months - 1)
    end_month = month_start(local_day(now), -1)
    labels = month_labels(first_month, months)
    liable: dict[str, dict[str, int]] = defaultdict(dict)
    m = outcome_measures(cases, day_start(first_month), day_start(end_month), rules, now=now)
    for row in m.betalningsansvar:
        liable[row.municipality][row.month] = row.liable_days
    return LiableDays(
        [label for label, _ in labels],
        [
            (_municipality(routing, code), [float(liable[code].get(key, 0)) for _, key in labels])
            for code in sorted(liable)
        ],
    )


def week_starts(now: datetime, weeks: int) -> list[datetime]:
    today = local_day(now)
    monday = today - timedelta(days=today.weekday())
    return [day_start(monday - timedelta(weeks=n)) for n in range(weeks - 1, -1, -1)]


def _midnight(moment: datetime) -> datetime:
    return day_start(moment.astimezone(STOCKHOLM).date())


def month_start(day: date, back: int) -> date:
    """The first day of the month `back` months before the month of `day` (negative: after)."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


_MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


def month_labels(first: date, months: int) -> list[tuple[str, str]]:
    """(label, YYYY-MM) for `months` months from `first`."""
    out = []
    for n in range(months):
        day = month_start(first, -n)
        out.append((f"{_MONTHS[day.month - 1]} {day.year}", f"{day.year:04d}-{day.month:02d}"))
    return out


def party_name(routing: RoutingTable, hsa_id: str) -> str:
    return routing.name_of(hsa_id)


def _municipality(routing: RoutingTable, code: str) -> str:
    party = routing.municipality(code)
    return f"{party.name} ({code})" if party else f"Kommun {code}"


def bookable_slots(store: Store, starts: list[datetime]) -> list[SlotTime]:
    """This adapter's bookable tidbok slots in the weeks that begin at `starts`."""
    with store.reading() as conn:
        return [
            SlotTime(unit=unit, start=datetime.fromtimestamp(start, UTC), booked=booked)
            for unit, start, booked in tidbok.bookable(
                conn, starts[0].timestamp(), (starts[-1] + timedelta(days=7)).timestamp()
            )
        ]
