"""What the people who run the adapter see of one case: its state, deadlines, betalningsansvar
and a timeline of every message in and out. Shared by the JSON read API and the dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapter.process.betalningsansvar import Betalningsansvar, betalningsansvar
from adapter.process.deadlines import Deadline, deadlines
from adapter.process.kalender import STOCKHOLM
from adapter.process.rules import ProcessRules
from adapter.read.holdings import HeldCase
from adapter.store import queries
from adapter.store.store import Store


def local(moment: datetime | float | None) -> str | None:
    """ISO 8601 in Swedish local time (with offset)."""
    if moment is None:
        return None
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(STOCKHOLM).isoformat(timespec="seconds")


def next_deadline(found: list[Deadline]) -> Deadline | None:
    """The earliest deadline still to meet (overdue ones first: they are earliest)."""
    unmet = [d for d in found if d.met_at is None]
    return min(unmet, key=lambda d: d.due.astimezone(UTC)) if unmet else None


def deadline_json(d: Deadline) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "due": local(d.due),
        "status": d.status.value,
        "met_at": local(d.met_at),
        "sender": d.sender,
        "overdue": d.overdue,
    }


def liability_json(b: Betalningsansvar) -> dict[str, Any]:
    return {
        "agreement": b.agreement,
        "municipality": b.municipality,
        "ready_days": b.ready_days,
        "liable_days": b.liable_days,
        "amount": b.amount,
        "periods": [{"from": f.isoformat(), "to": t.isoformat(), "days": n} for f, t, n in _spans(b.days)],
        "notes": list(b.notes),
    }


def case_summary(held: HeldCase, rules: ProcessRules, now: datetime) -> dict[str, Any]:
    case = held.case
    found = deadlines(case, now, rules)
    upcoming = next_deadline(found)
    ready = case.utskrivningsklar_at
    return {
        "case_id": case.case_id,
        "state": case.state.value,
        "version": held.row.version,
        "created_at": local(held.row.created_at),
        "updated_at": local(held.row.updated_at),
        "patient": {
            "identifier_system": case.patient.identifier_system,
            "identifier": case.patient.identifier,
            "protected": case.patient.protected,
        },
        "unit": case.unit,
        "care_kind": case.care_kind.value,
        "needs_region_and_municipality": case.needs_region_and_municipality,
        "admitted_at": local(case.admitted_at),
        "expected_discharge": case.expected_discharge.isoformat() if case.expected_discharge else None,
        "utskrivningsklar_at": local(ready),
        "kallelse_at": local(case.kallelse_at),
        "discharged_at": local(case.discharged_at),
        "died_at": local(case.died_at),
        "fast_vardkontakt": case.fast_vardkontakt,
        "needs_category": case.needs_category.value if case.needs_category else None,
        "on_leave": case.on_leave,
        "meetings": [
            {
                "appointment_id": m.appointment_id,
                "start": local(m.start),
                "mode": m.mode.value,
                "sip": m.sip,
                "site": m.site,
                "cancelled": m.cancelled,
            }
            for m in case.meetings
        ],
        "parties": sorted(held.parties),
        "next_deadline": deadline_json(upcoming) if upcoming else None,
        "deadlines": [deadline_json(d) for d in found],
        "betalningsansvar": liability_json(betalningsansvar(case, rules.agreement, now)),
    }


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    type: str  # meddelande-in | meddelande-ut | leverans | kvittens | tidsgrans | betalningsansvar
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"at": local(self.at), "type": self.type, **self.data}


def case_timeline(store: Store, held: HeldCase, rules: ProcessRules, now: datetime) -> list[TimelineEntry]:
    """The timeline of a case, from its event log and its outbox."""
    with store.reading() as conn:
        events = queries.case_events(conn, held.row.case_id)
        outbox = queries.case_outbox(conn, held.row.case_id)
    return timeline(held, events, outbox, rules, now)


def timeline(
    held: HeldCase,
    events: list[queries.EventRow],
    outbox: list[queries.OutboxRow],
    rules: ProcessRules,
    now: datetime,
) -> list[TimelineEntry]:
    """Every message in and out, each delivery, kvittens, deadline and liable period, in time order."""
    case = held.case
    entries = [
        TimelineEntry(
            _epoch(e.received_at),
            "meddelande-in",
            {
                "kind": e.kind,
                "message_id": e.message_id,
                "sender": e.sender,
                "occurred_at": local(datetime.fromisoformat(e.occurred_at)),
                "makulerat": e.message_id in case.cancelled,
            },
        )
        for e in events
    ]
    for o in outbox:
        entries.append(
            TimelineEntry(
                _epoch(o.created_at),
                "meddelande-ut",
                {
                    "kind": o.kind,
                    "message_id": o.message_id,
                    "in_answer_to": o.source_message_id,
                    "recipient": o.recipient,
                    "status": o.status,
                    "attempts": o.attempts,
                    "last_error": o.last_error,
                    "next_attempt_at": local(o.next_attempt_at) if o.status == "pending" else None,
                },
            )
        )
        if o.delivered_at is not None:
            entries.append(
                TimelineEntry(
                    _epoch(o.delivered_at),
                    "leverans",
                    {
                        "kind": o.kind,
                        "message_id": o.message_id,
                        "recipient": o.recipient,
                        "attempts": o.attempts,
                    },
                )
            )
    entries.extend(
        TimelineEntry(a.at, "kvittens", {"message_id": a.message_id, "by": a.by, "code": a.code})
        for a in case.kvittenser
    )
    entries.extend(TimelineEntry(d.due, "tidsgrans", deadline_json(d)) for d in deadlines(case, now, rules))
    liability = betalningsansvar(case, rules.agreement, now)
    for first, last, days in _spans(liability.days):
        entries.append(
            TimelineEntry(
                datetime.combine(first, datetime.min.time(), tzinfo=STOCKHOLM),
                "betalningsansvar",
                {
                    "from": first.isoformat(),
                    "to": last.isoformat(),
                    "days": days,
                    "amount": sum(
                        rules.agreement.day_amounts.for_day(first + timedelta(n)) for n in range(days)
                    ),
                    "agreement": liability.agreement,
                    "municipality": liability.municipality,
                },
            )
        )
    return sorted(entries, key=lambda e: e.at.astimezone(UTC))


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _spans(days: tuple[date, ...]) -> Iterator[tuple[date, date, int]]:
    """Consecutive liable days as (first, last, count)."""
    start: date | None = None
    previous: date | None = None
    for day in sorted(days):
        if previous is not None and day - previous != timedelta(days=1):
            assert start is not None
            yield start, previous, (previous - start).days + 1
            start = None
        start = start or day
        previous = day
    if start is not None and previous is not None:
        yield start, previous, (previous - start).days + 1
