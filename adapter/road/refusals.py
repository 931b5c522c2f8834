"""The road's own refusals: what a message is refused for that no profile, rule or case says."""

from __future__ import annotations

from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.process.events import Event
from adapter.store.tidbok import slot_id

NOT_YET = 425  # Too Early: a copy that cannot apply before a message it follows (docs/delivery.md)

# The widths of the store's key columns (adapter/store/schema.py): a longer value is the client's error.
_KEY_WIDTHS = {
    "case_id": ("case identifier (Encounter.identifier)", 200),
    "sender": ("sender HSA-id", 100),
    "message_id": ("message id", 200),
}


def sender_is_caller(sender: str, caller: str) -> None:
    """A party sends only in its own name: MessageHeader.sender must be the authenticated caller."""
    if sender != caller:
        raise Rejected(
            Issue(
                "error",
                "forbidden",
                f"The message's sender {sender} is not the calling party {caller}; a party may only"
                " send messages in its own name.",
                "Bundle.entry[0].resource.sender",
                "sender-is-caller",
            ),
            status=403,
        )


def reused_bundle_id(bundle_id: str) -> Rejected:
    """Reliable messaging: a Bundle.id seen before under another MessageHeader.id is an error
    (a resend keeps the MessageHeader.id; a new message needs a new Bundle.id)."""
    return Rejected(
        Issue(
            "error",
            "duplicate",
            f"Bundle.id {bundle_id} was already used by another message. A resend keeps"
            " its MessageHeader.id; a new message needs a new Bundle.id.",
            "Bundle.id",
            "bundle-id-reused",
        ),
        status=409,
    )


def resend_changed(message_id: str) -> Rejected:
    """A resend must repeat the message it resends (MESSAGING.md: reliable messaging)."""
    return Rejected(
        Issue(
            "error",
            "conflict",
            f"Message {message_id} was accepted before with other content; a resend must repeat"
            " it unchanged. Send a change as a new message with its own MessageHeader.id.",
            "Bundle.entry[0].resource.id",
            "resend-changed",
        ),
        status=409,
    )


def within(value: str, width: int) -> str | None:
    """The value if it fits its column (a refused message's may not: it is why it was refused)."""
    return value if len(value) <= width else None


def fits_store(event: Event) -> None:
    for name, (what, width) in _KEY_WIDTHS.items():
        value = getattr(event, name)
        if len(value) > width:
            raise Rejected(
                Issue(
                    "error", "too-long", f"The {what} is {len(value)} characters; at most {width}.", "Bundle"
                )
            )


def not_yet(reason: str) -> Rejected:
    """A copy that cannot apply yet because a message it follows has not reached this adapter (it
    crossed on the network): 425 Too Early, which the sending adapter retries with backoff; after
    its redelivery policy gives up, a dead letter there (docs/delivery.md, "Out-of-order arrival")."""
    return Rejected(
        Issue(
            "error",
            "not-found",
            f"{reason} It may still be on its way from another party's adapter: send this again later.",
            "Bundle",
            "not-yet",
        ),
        status=NOT_YET,
    )


def slot_taken(index: BundleIndex, slot: str) -> Rejected:
    """A 409 located at the Appointment.slot reference that names the slot taken."""
    where = "Bundle"
    for i, entry in enumerate(index.bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Appointment":
            refs = [((r or {}).get("identifier") or {}).get("value") for r in resource.get("slot") or []]
            at = next((j for j, r in enumerate(refs) if isinstance(r, str) and slot_id(r) == slot), None)
            if at is not None:
                where = f"Bundle.entry[{i}].resource.slot[{at}]"
                break
    return Rejected(
        Issue(
            "error",
            "conflict",
            f"Slot {slot} is not free: another meeting has booked it, or its party has marked it"
            " unavailable. Search the free slots again and book another (docs/tidbok.md).",
            where,
            "slot-taken",
        ),
        status=409,
    )


def taken_on_the_way(case_id: str, meeting: str, url: str) -> Issue:
    """A copy's warning: the meeting is accepted here, but a slot it names here is another
    meeting's (taken since its sender booked it). Its sender's adapter records it (docs/tidbok.md)."""
    return Issue(
        "warning",
        "conflict",
        f"Slot {url} was booked by another meeting before this one arrived: meeting {meeting} of case"
        f" {case_id} is accepted here without it. Rebook it (planeringsmote-ombokat) into a free slot.",
        "Bundle",
        "slot-taken",
    )
