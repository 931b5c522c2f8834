"""Message identity across hops (docs/delivery.md).

A message is known by its origin id, the MessageHeader.id its sender's system gave it. Every copy an
adapter makes for a recipient gets an id of its own, `outbound_message_id(origin, recipient)`, the
same at every hop, and carries the origin id in the `origin-message` extension. An adapter files
the message under its origin id (the id the copy arrived with is kept beside it), so that a
makulering, kvittens or reply that names any copy (or the origin) resolves to the same event; and
it renders such a reference for each recipient as the id that recipient knows: the origin id for
the message's own sender, its copy's id for anyone else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from adapter.mapping.outbound import outbound_message_id
from adapter.process.case import DischargeCase
from adapter.process.events import Event, Godkannande, Kvittens, Makulering, Meddelande

# The event field that names an earlier message, per kind of event that may name one.
_REFERENCE_FIELD: dict[type[Event], str] = {
    Makulering: "cancelled_message_id",
    Kvittens: "acknowledged_message_id",
    Meddelande: "in_response_to",
    Godkannande: "stallningstagande",
}


def origin_id(header: dict[str, Any], url: str) -> str | None:
    """The origin id a copy carries in its MessageHeader (`url`: the origin-message extension), or
    None for a message straight from a party's system."""
    for ext in header.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            value = ext.get("valueId")
            return value if isinstance(value, str) and value else None
    return None


def as_origin(event: Event, origin: str | None) -> Event:
    """The event filed under its origin id (a copy: keeping the id it arrived with)."""
    if origin is None or origin == event.message_id:
        return event
    return dataclasses.replace(event, message_id=origin, received_as=event.message_id)


def reference(event: Event) -> str | None:
    """The id of the earlier message the event names, if any."""
    name = _REFERENCE_FIELD.get(type(event))
    return getattr(event, name) if name else None


def resolve_reference(event: Event, case: DischargeCase | None, parties: Iterable[str]) -> Event | None:
    """The event with its reference made the origin id of the message of the case it names (by its
    origin id, the id it arrived with here, or any copy's id to one of `parties`); unchanged when it
    names none; None when the case has no such message (yet)."""
    named = reference(event)
    if named is None:
        return event
    found = _find(named, case.events if case else (), tuple(parties))
    if found is None:
        return None
    return _with_reference(event, found.message_id)


def as_known_by(event: Event, recipient: str, case: DischargeCase) -> Event:
    """The event as `recipient` should read it: a reference to an earlier message of the case names
    the id that recipient knows it by (its own message: the origin id; else the copy it was sent)."""
    named = reference(event)
    if named is None:
        return event
    earlier = next((e for e in case.events if e.message_id == named), None)
    if earlier is None or earlier.sender == recipient:
        return event
    return _with_reference(event, outbound_message_id(named, recipient))


def copy_id(event_origin: str, recipient: str) -> str:
    """The id of the copy of a message sent to `recipient`, at whichever adapter sent it."""
    return outbound_message_id(event_origin, recipient)


def _find(named: str, events: Iterable[Event], parties: tuple[str, ...]) -> Event | None:
    events = tuple(events)
    for e in events:
        if named in (e.message_id, e.received_as):
            return e
    for e in events:
        if any(outbound_message_id(e.message_id, p) == named for p in parties):
            return e
    return None


def _with_reference(event: Event, message_id: str) -> Event:
    name = _REFERENCE_FIELD[type(event)]
    if getattr(event, name) == message_id:
        return event
    return dataclasses.replace(event, **{name: message_id})  # type: ignore[arg-type]
