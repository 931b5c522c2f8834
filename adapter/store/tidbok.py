"""The tidbok's rows: this adapter's own party's Schedule and Slot resources, and the bookings of
its slots by planning meetings (docs/tidbok.md).

A booking takes a slot with one conditional UPDATE (`… WHERE status = 'free'`): of two bookings of
one slot at the same moment, on SQLite or PostgreSQL, the database lets exactly one change the row
and the other finds nothing to change. No read-then-write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from adapter.process.case import DischargeCase
from adapter.process.events import (
    Event,
    Makulering,
    PlaneringsmoteAvbokat,
    PlaneringsmoteBokat,
    PlaneringsmoteOmbokat,
)
from adapter.store import schema

_sc = schema.schedules.c
_sl = schema.slots.c


@dataclass(frozen=True)
class SlotRow:
    slot_id: str
    schedule_id: str
    owner: str
    actor: str
    start: float
    end: float
    status: str
    mode: str | None
    case_id: str | None
    appointment_id: str | None
    resource: dict[str, Any]


@dataclass(frozen=True)
class SlotSearch:
    actors: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    after: float | None = None  # start >= after
    before: float | None = None  # start < before
    count: int = 100


class SlotTaken(Exception):
    """A slot the meeting names is booked by another meeting (or not bookable)."""

    def __init__(self, slot_id: str) -> None:
        super().__init__(slot_id)
        self.slot_id = slot_id


# --- schedules ---


def schedule_get(conn: Connection, schedule_id: str) -> tuple[str, str, dict[str, Any]] | None:
    """(owner, actor, resource) of a schedule."""
    row = conn.execute(
        select(_sc.owner, _sc.actor, _sc.resource).where(_sc.schedule_id == schedule_id)
    ).first()
    return (row.owner, row.actor, row.resource) if row else None


def schedule_put(
    conn: Connection, schedule_id: str, owner: str, actor: str, resource: dict[str, Any], now: float
) -> bool:
    """Insert or replace; True if it was new. Slots follow their schedule's actor."""
    values = {"owner": owner, "actor": actor, "resource": resource, "updated_at": now}
    changed = conn.execute(
        update(schema.schedules).where(_sc.schedule_id == schedule_id).values(**values)
    ).rowcount
    if changed:
        conn.execute(update(schema.slots).where(_sl.schedule_id == schedule_id).values(actor=actor))
        return False
    conn.execute(schema.schedules.insert().values(schedule_id=schedule_id, **values))
    return True


def schedules_of(conn: Connection, actors: Sequence[str], count: int) -> list[dict[str, Any]]:
    query = select(_sc.resource).order_by(_sc.schedule_id).limit(count)
    if actors:
        query = query.where(_sc.actor.in_(actors))
    return [row.resource for row in conn.execute(query)]


# --- slots ---


def slot_get(conn: Connection, slot_id: str) -> SlotRow | None:
    row = conn.execute(select(schema.slots).where(_sl.slot_id == slot_id)).first()
    return _slot(row) if row else None


def slot_put(conn: Connection, row: SlotRow, now: float) -> bool:
    """Insert or replace a slot that no meeting holds; True if it was new. The caller checked that
    it is not booked; the UPDATE checks again (a booking may have come in between)."""
    values = {
        "schedule_id": row.schedule_id,
        "owner": row.owner,
        "actor": row.actor,
        "start": row.start,
        "end": row.end,
        "status": row.status,
        "mode": row.mode,
        "resource": row.resource,
        "updated_at": now,
    }
    changed = conn.execute(
        update(schema.slots).where(_sl.slot_id == row.slot_id, _sl.appointment_id.is_(None)).values(**values)
    ).rowcount
    if changed:
        return False
    if slot_get(conn, row.slot_id) is not None:
        raise SlotTaken(row.slot_id)
    conn.execute(schema.slots.insert().values(slot_id=row.slot_id, **values))
    return True


def slots_search(conn: Connection, search: SlotSearch) -> list[SlotRow]:
    query = select(schema.slots).order_by(_sl.start, _sl.slot_id).limit(search.count)
    if search.actors:
        query = query.where(_sl.actor.in_(search.actors))
    if search.schedules:
        query = query.where(_sl.schedule_id.in_(search.schedules))
    if search.statuses:
        query = query.where(_sl.status.in_(search.statuses))
    if search.modes:
        query = query.where(_sl.mode.in_(search.modes))
    if search.after is not None:
        query = query.where(_sl.start >= search.after)
    if search.before is not None:
        query = query.where(_sl.start < search.before)
    return [_slot(row) for row in conn.execute(query)]


def bookable(conn: Connection, after: float, before: float) -> list[tuple[str, float, bool]]:
    """(unit, start, booked) of the slots starting in [after, before) that were offered: free or
    booked (not those withdrawn as unavailable). For the dashboard's share of times used."""
    query = select(_sl.actor, _sl.start, _sl.status).where(
        _sl.start >= after, _sl.start < before, _sl.status.in_(("free", "busy"))
    )
    return [(row.actor, row.start, row.status == "busy") for row in conn.execute(query)]


# --- bookings (applied in the transaction that accepts the planeringsmöte message) ---


def book(
    conn: Connection,
    slot_ids: Iterable[str],
    case_id: str,
    appointment_id: str,
    now: float,
    *,
    strict: bool = True,
) -> list[str]:
    """Book the meeting into those of `slot_ids` this store holds (other parties' slots are their
    adapters' to book); the slots it held before and no longer names are freed (a rebooking).
    A slot held by another meeting or not free raises SlotTaken; when not `strict` it is left to
    the meeting that has it and returned among the slots not taken."""
    wanted = list(dict.fromkeys(slot_ids))
    held = (
        [row.slot_id for row in conn.execute(select(_sl.slot_id).where(_sl.slot_id.in_(wanted)))]
        if wanted
        else []
    )
    booked, taken = [], []
    for slot_id in held:
        changed = conn.execute(
            update(schema.slots)
            .where(
                _sl.slot_id == slot_id,
                or_(
                    _sl.status == "free",
                    and_(_sl.case_id == case_id, _sl.appointment_id == appointment_id),
                ),
            )
            .values(status="busy", case_id=case_id, appointment_id=appointment_id, updated_at=now)
        ).rowcount
        if changed:
            booked.append(slot_id)
        elif strict:
            raise SlotTaken(slot_id)
        else:
            taken.append(slot_id)
    release(conn, case_id, appointment_id, now, keep=booked)
    return taken


def apply_meeting(
    conn: Connection,
    event: Event,
    before: DischargeCase | None,
    after: DischargeCase,
    now: float,
    base_url: str,
    *,
    strict: bool = True,
) -> list[tuple[str, str]]:
    """Match the slots this store holds to the meetings of the case after a planeringsmöte message
    or a makulering: each meeting the message changed takes the slots its last booking names at
    `base_url` (this adapter's; or relative) and frees the others; a cancelled meeting, one whose
    booking was made void, or every meeting of a case made void frees all. A slot another meeting
    holds raises SlotTaken, or when not `strict` (a copy from another party's adapter,
    docs/tidbok.md) stays with that meeting and is returned as (the meeting, the slot's URL)."""
    if not isinstance(event, _MEETING_CHANGES):
        return []
    had, wanted = (before.booked_slots if before else {}), after.booked_slots
    for appointment_id in had.keys() - wanted.keys():
        release(conn, after.case_id, appointment_id, now)  # its booking made void
    taken: list[tuple[str, str]] = []
    for appointment_id, slots in wanted.items():
        if appointment_id in had and had[appointment_id] == slots:
            continue  # this message did not change it
        mine = {slot_id(ref): ref for ref in slots if _held_at(ref, base_url)}
        missed = book(conn, mine, after.case_id, appointment_id, now, strict=strict)
        taken += [(appointment_id, mine[s]) for s in missed]
    return taken


_MEETING_CHANGES = (PlaneringsmoteBokat, PlaneringsmoteOmbokat, PlaneringsmoteAvbokat, Makulering)


def _held_at(reference: str, base_url: str) -> bool:
    """Whether a slot URL names a slot of the adapter at `base_url` (a relative one does)."""
    base, found, _ = reference.rpartition("Slot/")
    return bool(found) and base.rstrip("/") in ("", base_url.rstrip("/"))


def slot_id(reference: str) -> str:
    """The id in an Appointment.slot reference: `Slot/<id>`, absolute (`<base>/Slot/<id>`) or
    with a version (`…/_history/<v>`)."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1]


def release(conn: Connection, case_id: str, appointment_id: str, now: float, keep: Sequence[str] = ()) -> int:
    """Free the slots the meeting holds (but those in `keep`): a cancellation or a rebooking."""
    query = update(schema.slots).where(_sl.case_id == case_id, _sl.appointment_id == appointment_id)
    if keep:
        query = query.where(_sl.slot_id.not_in(keep))
    return int(
        conn.execute(query.values(status="free", case_id=None, appointment_id=None, updated_at=now)).rowcount
    )


def _slot(row: Any) -> SlotRow:
    return SlotRow(
        slot_id=row.slot_id,
        schedule_id=row.schedule_id,
        owner=row.owner,
        actor=row.actor,
        start=row.start,
        end=row.end,
        status=row.status,
        mode=row.mode,
        case_id=row.case_id,
        appointment_id=row.appointment_id,
        resource=row.resource,
    )
