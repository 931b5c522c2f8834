"""The one road every message takes: parse → validate → map in → process → route → map out →
outbox. The HTTP API and the CLI both call `Pipeline.process_message`.

A message is durable before it is acknowledged: the case change, the outbox rows for every
recipient and the inbox row (with the response given) are written in one transaction, and only
then is the response returned.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from adapter import metrics
from adapter.mapping.dialects import Dialects, Rejection, Translation, case_state, transaction_response
from adapter.mapping.engine import Mapper
from adapter.mapping.inbound import MappingFailed
from adapter.mapping.outbound import Addressing, SharedEntries, outbound_message_id
from adapter.mapping.response import response_message
from adapter.process.case import CaseRejected, DischargeCase
from adapter.process.events import Event, Kvittens, event_to_dict
from adapter.routing.access import AccessDenied, ReferenceUnknown, check_opening, check_party, check_step
from adapter.routing.identity import as_known_by, as_origin, origin_id, reference, resolve_reference
from adapter.routing.kvittens import record_kvittens
from adapter.routing.parties import PartyUnknown, case_parties
from adapter.routing.router import choose_recipients
from adapter.routing.signoff import AwaitingApproval, check_discharge
from adapter.routing.steps import StepTable
from adapter.routing.table import PartyConfig, RoutingTable
from adapter.security.audit import patient_hash
from adapter.security.limits import JsonLimits, reference_cycle
from adapter.security.patient import MessagePatient, PatientIdentity, PatientMismatch
from adapter.security.protected import render_for
from adapter.store.store import InboxRecord, NewOutboxItem, Store
from adapter.store.tidbok import SlotTaken, apply_meeting, slot_id
from adapter.validation.bundle import BundleIndex
from adapter.validation.issues import MAX_EXPRESSION, Issue, bounded, operation_outcome
from adapter.validation.validator import Validator

log = structlog.get_logger("adapter.pipeline")

FHIR_JSON = "application/fhir+json"
NOT_YET = 425  # Too Early: a copy that cannot apply before a message it follows (docs/delivery.md)


@dataclass(frozen=True)
class Result:
    status: int
    body: bytes  # a response message Bundle or an OperationOutcome, as JSON
    duplicate: bool = False
    case_id: str | None = None


class Rejected(Exception):
    """A client error: becomes a 4xx OperationOutcome; nothing but an audit record is stored."""

    def __init__(self, status: int, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message for i in issues))
        self.status = status
        self.issues = issues
        self.about: Event | None = None  # the message's event, when it was read that far


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        validator: Validator,
        mapper: Mapper,
        routing: RoutingTable,
        steps: StepTable,
        audit_key: bytes,
        limits: JsonLimits | None = None,
        dialects: Dialects | None = None,
        clock: Callable[[], float] = time.time,
        route: bool = True,
        discharge_waits_for_approval: bool = False,
    ) -> None:
        self.limits = limits or JsonLimits()
        # False: messages change their cases but are sent to no one (`import` of history that
        # the other parties already had from the earlier system).
        self.route = route
        # The region's waiting rule of the joint sign-off (lus-rules.yaml, docs/signoff.md).
        self.discharge_waits_for_approval = discharge_waits_for_approval
        self.dialects = dialects
        self.store = store
        self.validator = validator
        self.mapper = mapper
        self.routing = routing
        self.steps = steps
        self.audit_key = audit_key
        self.clock = clock
        self.patients = PatientIdentity(validator.terminology)
        self.source_endpoint = f"{routing.self_.base_url}/$process-message"
        self.origin_url = mapper.extensions["origin-message"]
        self._party_ids = tuple(p.hsa_id for p in routing.parties)
        me = routing.party(routing.self_.hsa_id)
        self.source_name = f"LUS adapter for {me.name if me else routing.self_.hsa_id}"

    # --- the road ---

    def process_message(self, raw: bytes, *, caller: str | None = None) -> Result:
        header = None
        translation: Translation | None = None
        try:
            bundle = parse_bundle(raw, self.limits)
            dialect = self._inbound_dialect(caller)
            if dialect is not None:
                assert caller is not None
                translated = self._from_dialect(dialect, bundle, caller)
                if isinstance(translated, Result):
                    return translated
                translation, bundle = translated, translated.bundle
            header = _header_of(bundle)
            message_id = header.get("id") if header else None
            if isinstance(message_id, str):
                structlog.contextvars.bind_contextvars(message_id=message_id)
                resent, as_caller = bundle, None if translation else caller
                previous = self._previous_response(
                    message_id,
                    caller,
                    bundle.get("id"),
                    lambda before: self._refuse_changed_resend(resent, before, as_caller),
                )
                if previous is not None:
                    metrics.message_in(metrics.kind_of(header), "duplicate")
                    return previous
            try:
                return self._process_new(bundle, caller, translation)
            except _Retry as retry:
                previous = self._previous_response(retry.message_id, caller)
                assert previous is not None  # its inbox row was committed: rows are never deleted
                return previous
        except Rejected as rejected:
            issues = translation.relocate(rejected.issues) if translation else rejected.issues
            if rejected.status == NOT_YET:  # no fault of the sender's: counted apart
                metrics.message_in(metrics.kind_of(header), "not-yet")
            else:
                metrics.message_rejected(header, issues)
            self._audit_rejection(rejected, caller, raw)
            return Result(rejected.status, orjson.dumps(operation_outcome(issues)))
        finally:
            structlog.contextvars.unbind_contextvars("message_id")

    def _previous_response(
        self,
        message_id: str,
        caller: str | None,
        bundle_id: Any = None,
        check_resend: Callable[[Result], None] | None = None,
    ) -> Result | None:
        """Idempotent Receiver: a message id seen before gets the response it got then (only its
        sender may ask: the response is about its message; `check_resend` may refuse it). A new
        message must not reuse the Bundle.id of an earlier one (read in the same visit to the
        store)."""
        with self.store.reading() as conn:
            seen = self.store.inbox_get(conn, message_id)
            if seen is None and isinstance(bundle_id, str):
                earlier = self.store.inbox_by_bundle_id(conn, bundle_id)
                if earlier == message_id:  # a copy of this very message committed in between
                    seen = self.store.inbox_get(conn, message_id)
                else:
                    _refuse_reused_bundle_id(bundle_id, earlier)
        if seen is None:
            return None
        if caller is not None and seen.sender is not None:
            _sender_is_caller(seen.sender, caller)
        previous = Result(seen.status_code, seen.response, duplicate=True, case_id=seen.case_id)
        if check_resend is not None:
            check_resend(previous)
        log.info("duplicate message answered as before", case_id=seen.case_id)
        self.store.audit(
            None,
            party=caller,
            action="receive",
            outcome="duplicate",
            message_id=message_id,
            case_id=seen.case_id,
        )
        return previous

    def _refuse_changed_resend(self, bundle: dict[str, Any], previous: Result, caller: str | None) -> None:
        """A resend (same MessageHeader.id, new Bundle.id and timestamp allowed) must carry the
        message it repeats: one whose content says something else under that id is refused with
        a 409, not answered as before while its change is dropped (MESSAGING.md: reliable
        messaging; docs/delivery.md). Compared as the process sees it: the event it carries."""
        if previous.status != 200 or previous.case_id is None:
            return
        index = BundleIndex(bundle)
        header = index.header
        message_id = str(header.resource.get("id")) if header else ""
        with self.store.reading() as conn:
            stored = self.store.message_event(conn, previous.case_id, message_id)
            case = self.store.load_case(conn, previous.case_id) if stored is not None else None
        if stored is None:
            return
        same = False
        if header is not None and not any(i.blocking for i in self.validator.validate_message(bundle, index)):
            try:
                event, _ = self.to_event(index, caller)
            except MappingFailed:
                pass
            else:  # filed as the accepted one was: its patient's identifier in one form, under
                # its origin id, its reference resolved
                try:
                    patient = self.patients.of_message(index, event.occurred_at.date())
                except PatientMismatch:
                    patient = None  # never accepted so: it differs
                else:
                    event = self.patients.in_one_form(event, patient)
                    event = self._as_filed(event, header.resource)
                    event = resolve_reference(event, case, self._party_ids) or event
                    ignore = ("occurred_at",)  # Bundle.timestamp: a resend is a new Bundle
                    new = {k: v for k, v in event_to_dict(event).items() if k not in ignore}
                    same = new == {k: v for k, v in stored.items() if k not in ignore}
        if same:
            return
        log.warning("resend with changed content refused", case_id=previous.case_id)
        raise Rejected(
            409,
            [
                Issue(
                    "error",
                    "conflict",
                    f"Message {message_id} was accepted before with other content; a resend must repeat"
                    " it unchanged. Send a change as a new message with its own MessageHeader.id.",
                    "Bundle.entry[0].resource.id",
                    "resend-changed",
                )
            ],
        )

    def _as_filed(self, event: Event, header: dict[str, Any]) -> Event:
        """The event as the case files it: under its origin id (a copy keeps the id it arrived
        with), with the parties its header names as destinations."""
        event = as_origin(event, origin_id(header, self.origin_url))
        return dataclasses.replace(event, destinations=tuple(_destination_ids(header)))

    # --- dialects (mappings/<dialect>/_dialect.yaml) ---

    def _inbound_dialect(self, caller: str | None) -> str | None:
        party = self.routing.party(caller) if caller else None
        name = party.inbound_dialect if party else None
        return name if self.dialects and name and self.dialects.get(name) else None

    def _from_dialect(self, name: str, bundle: dict[str, Any], caller: str) -> Translation | Result:
        """The canonical message a dialect Bundle stands for (validated against R4 and the dialect's
        profile first), or the answer given before to the same message id."""
        assert self.dialects is not None
        dialect = self.dialects.get(name)
        assert dialect is not None
        issues = self.dialects.validate(dialect, bundle, self.validator)
        if any(i.blocking for i in issues):
            raise Rejected(422, issues)
        message_id = self.dialects.message_id(dialect, bundle, caller)
        if message_id is None:
            where, what = "Bundle", "Bundle.identifier or Bundle.id"
            raise Rejected(
                422, [Issue("error", "required", f"No message id: {what} is needed.", where, "message-id")]
            )
        previous = self._previous_response(message_id, caller)
        if previous is not None:
            metrics.message_in(None, "duplicate")  # the event is not inferred for a resend
            return previous
        case_id = self.dialects.case_id(dialect, bundle)
        case = None
        if case_id is not None:
            with self.store.reading() as conn:
                case = self.store.load_case(conn, case_id)
        if case is not None and caller not in case_parties(case, self.routing):
            case = None  # a case is read only by its parties: the message is then refused as theirs is not
        try:
            translation = self.dialects.to_canonical(
                dialect, bundle, caller, case_state(case) if case else None
            )
        except Rejection as exc:
            raise Rejected(422, exc.issues) from exc
        return translation

    def _process_new(
        self, bundle: dict[str, Any], caller: str | None, translation: Translation | None = None
    ) -> Result:
        index = BundleIndex(bundle)
        issues = self.validator.validate_message(bundle, index)
        if any(i.blocking for i in issues):
            raise Rejected(422, issues)
        cycle = reference_cycle(index)
        if cycle is not None:
            raise Rejected(422, [cycle])
        event, warnings = self.to_event(index, None if translation else caller)
        try:
            patient = self.patients.of_message(index, event.occurred_at.date())
        except PatientMismatch as exc:
            raise Rejected(422, [exc.issue]) from exc
        event = self.patients.in_one_form(event, patient)
        if translation is not None:  # the mapper's own warnings first, where both found the same
            found = {w.expression for w in warnings}
            warnings = [w for w in translation.warnings if w.expression not in found] + warnings
        try:
            return self._accept(index, event, patient, warnings + issues, caller, translation)
        except Rejected as rejected:
            rejected.about = event  # the audit record then names the case and the patient
            raise

    def _accept(
        self,
        index: BundleIndex,
        event: Event,
        patient: MessagePatient | None,
        issues: list[Issue],
        caller: str | None,
        translation: Translation | None = None,
    ) -> Result:
        if caller is not None:
            _sender_is_caller(event.sender, caller)
        _fits_store(event)
        header = index.header
        assert header is not None  # validated above
        received_id = event.message_id  # this copy's MessageHeader.id: the inbox dedupes on it
        # A copy another party's adapter made and routed already (this adapter's own party's system
        # sends only its own messages, whatever it puts in them).
        copy = origin_id(header.resource, self.origin_url) is not None and caller != self.routing.self_.hsa_id
        event = self._as_filed(event, header.resource)
        now = self.clock()
        with self.store.transaction() as conn:
            self.store.serialize_case(conn, event.case_id)
            if self.store.inbox_get(conn, received_id) is not None:
                # Lost the race with a concurrent copy of the same message: answer as it was answered.
                raise _Retry(received_id)
            case = self.store.load_case(conn, event.case_id)
            created = case is None
            try:
                if case is not None:  # a party outside the case learns nothing more of it
                    check_party(event, case, self.routing)
                resolved = resolve_reference(event, case, self._party_ids)
                if resolved is None and copy:
                    raise _not_yet(
                        f"The message {reference(event)} that this {event.kind} names has not arrived."
                    )
                event = resolved or event
                if case is None:
                    next_case = DischargeCase.open(event)
                    check_opening(event, next_case, self.routing, self.steps)
                else:
                    check_step(event, case, self.routing, self.steps)
                    self.patients.check(patient, case)
                    if self.discharge_waits_for_approval and not copy:  # the sender's adapter decides
                        check_discharge(event, case, self.routing, self.steps)
                    next_case = case.with_event(event)
                recipients = choose_recipients(event, next_case, self.routing, self.steps, copy=copy)
                recipients = recipients if self.route else []
                late = case.late_for(event) if case is not None else None
                if late is not None:  # accepted (it is not lost), but its sender is told
                    issues = [*issues, Issue("warning", "business-rule", late, "Bundle", "case-closed")]
            except AccessDenied as exc:
                raise Rejected(403, [exc.issue]) from exc
            except AwaitingApproval as exc:
                raise Rejected(409, [exc.issue]) from exc
            except CaseRejected as exc:
                if copy and exc.code == "not-found":  # what it follows is still on its way here
                    raise _not_yet(exc.reason) from exc
                raise Rejected(
                    422, [Issue("error", "business-rule", exc.reason, "Bundle", exc.code)]
                ) from exc
            except (PartyUnknown, PatientMismatch, ReferenceUnknown) as exc:
                raise Rejected(422, [exc.issue]) from exc
            try:  # the slots of its own tidbok that a planeringsmöte (or a makulering of one) takes or frees
                taken = apply_meeting(
                    conn, event, case, next_case, now, self.routing.self_.base_url, strict=not copy
                )
            except SlotTaken as exc:
                raise Rejected(409, [_slot_taken(index, exc.slot_id)]) from exc
            issues = [*issues, *(_taken_on_the_way(event.case_id, m, url) for m, url in taken)]
            shared = SharedEntries()  # what every recipient gets alike is rendered once
            items = [
                NewOutboxItem(
                    message_id=outbound_message_id(event.message_id, party.hsa_id),
                    source_message_id=event.message_id,
                    case_id=event.case_id,
                    recipient=party.hsa_id,
                    endpoint=party.endpoint,
                    kind=event.kind,
                    body=self._render(event, party, next_case, shared),
                )
                for party in recipients
            ]
            response = orjson.dumps(
                response_message(
                    header.resource,
                    code="ok",
                    source_endpoint=self.source_endpoint,
                    now=datetime.fromtimestamp(now, UTC),
                    outcome=operation_outcome(issues) if issues else None,
                )
            )
            if translation is not None:  # the sender's dialect gets the answer its form expects
                response = _dialect_answer(translation, response)
            self.store.save_case(conn, next_case, [event], now, created=created)
            if isinstance(event, Kvittens):
                record_kvittens(self.store, conn, event, now)
            self.store.outbox_add(conn, items, now)
            self.store.inbox_put(
                conn,
                InboxRecord(received_id, index.bundle.get("id"), event.sender, event.case_id, 200, response),
                now,
            )
            self.store.audit(
                conn,
                party=caller or event.sender,
                action="receive",
                outcome="accepted",
                message_id=event.message_id,
                case_id=event.case_id,
                patient_hash=patient_hash(next_case.patient.identifier, self.audit_key),
                detail={"kind": event.kind, "recipients": [p.hsa_id for p in recipients]},
            )
        metrics.message_in(event.kind, "accepted")
        log.info(
            "message accepted",
            kind=event.kind,
            case_id=event.case_id,
            recipients=[p.hsa_id for p in recipients],
        )
        return Result(200, response, case_id=event.case_id)

    def _render(self, event: Event, party: PartyConfig, case: DischargeCase, shared: SharedEntries) -> bytes:
        """The outbound message for one recipient, in its outbound dialect (a protected patient's
        details only to those configured to see them); an earlier message it names, by the id this
        recipient knows (entries that name it are then its own, not shared)."""
        known = as_known_by(event, party.hsa_id, case)
        if known is not event:
            event, shared = known, SharedEntries()
        to = Addressing(party.hsa_id, party.endpoint, self.source_endpoint, self.source_name)
        bundle = render_for(
            event, case, party.sees_protected_details, lambda e, c: self.mapper.to_bundle(e, to, c, shared)
        )
        if self.dialects is not None:
            bundle = self.dialects.from_canonical(party.outbound_dialect, bundle)
        return orjson.dumps(bundle)

    def to_event(self, index: BundleIndex, caller: str | None = None) -> tuple[Event, list[Issue]]:
        """Map a validated message to its process event in the sender's dialect."""
        sender_party = self.routing.party(caller) if caller else None
        dialect = sender_party.inbound_dialect if sender_party else "canonical"
        try:
            return self.mapper.to_event(dialect, index)
        except MappingFailed as exc:
            raise Rejected(422, exc.issues) from exc

    def _audit_rejection(self, rejected: Rejected, caller: str | None, raw: bytes) -> None:
        log.info("message rejected", status=rejected.status, rules=[i.rule for i in rejected.issues][:10])
        about = rejected.about
        patient = getattr(about, "patient", None)
        self.store.audit(
            None,
            party=caller,
            action="receive",
            outcome="denied" if rejected.status == 403 else "rejected",
            message_id=_within(about.message_id, 200) if about else None,
            case_id=_within(about.case_id, 200) if about else None,
            patient_hash=patient_hash(patient.identifier, self.audit_key) if patient else None,
            detail={
                "status": rejected.status,
                "bytes": len(raw),
                "issues": [
                    {"rule": i.rule, "expression": bounded(i.expression or "", MAX_EXPRESSION) or None}
                    for i in rejected.issues[:50]
                ],
            },
        )


def _refuse_reused_bundle_id(bundle_id: str, earlier_message_id: str | None) -> None:
    """Reliable messaging: a Bundle.id seen before under another MessageHeader.id is an error
    (a resend keeps the MessageHeader.id; a new message needs a new Bundle.id)."""
    if earlier_message_id is not None:
        raise Rejected(
            409,
            [
                Issue(
                    "error",
                    "duplicate",
                    f"Bundle.id {bundle_id} was already used by another message. A resend keeps"
                    " its MessageHeader.id; a new message needs a new Bundle.id.",
                    "Bundle.id",
                    "bundle-id-reused",
                )
            ],
        )


def _sender_is_caller(sender: str, caller: str) -> None:
    """A party sends only in its own name: MessageHeader.sender must be the authenticated caller."""
    if sender != caller:
        raise Rejected(
            403,
            [
                Issue(
                    "error",
                    "forbidden",
                    f"The message's sender {sender} is not the calling party {caller}; a party may only"
                    " send messages in its own name.",
                    "Bundle.entry[0].resource.sender",
                    "sender-is-caller",
                )
            ],
        )


# The widths of the store's key columns (adapter/store/schema.py): a longer value is the client's error.
_KEY_WIDTHS = {
    "case_id": ("case identifier (Encounter.identifier)", 200),
    "sender": ("sender HSA-id", 100),
    "message_id": ("message id", 200),
}


def _within(value: str, width: int) -> str | None:
    """The value if it fits its column (a refused message's may not: it is why it was refused)."""
    return value if len(value) <= width else None


def _fits_store(event: Event) -> None:
    for field, (what, width) in _KEY_WIDTHS.items():
        value = getattr(event, field)
        if len(value) > width:
            raise Rejected(
                422,
                [
                    Issue(
                        "error",
                        "too-long",
                        f"The {what} is {len(value)} characters; at most {width}.",
                        "Bundle",
                    )
                ],
            )


def _slot_taken(index: BundleIndex, slot: str) -> Issue:
    """A 409's issue, located at the Appointment.slot reference that names the slot taken."""
    where = "Bundle"
    for i, entry in enumerate(index.bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Appointment":
            refs = [((r or {}).get("identifier") or {}).get("value") for r in resource.get("slot") or []]
            at = next((j for j, r in enumerate(refs) if isinstance(r, str) and slot_id(r) == slot), None)
            if at is not None:
                where = f"Bundle.entry[{i}].resource.slot[{at}]"
                break
    return Issue(
        "error",
        "conflict",
        f"Slot {slot} is not free: another meeting has booked it, or its party has marked it"
        " unavailable. Search the free slots again and book another (docs/tidbok.md).",
        where,
        "slot-taken",
    )


def _taken_on_the_way(case_id: str, meeting: str, url: str) -> Issue:
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


def _not_yet(reason: str) -> Rejected:
    """A copy that cannot apply yet because a message it follows has not reached this adapter (it
    crossed on the network): 425 Too Early, which the sending adapter retries with backoff; after
    its redelivery policy gives up, a dead letter there (docs/delivery.md, "Out-of-order arrival")."""
    return Rejected(
        NOT_YET,
        [
            Issue(
                "error",
                "not-found",
                f"{reason} It may still be on its way from another party's adapter: send this again later.",
                "Bundle",
                "not-yet",
            )
        ],
    )


class _Retry(Exception):
    """A concurrent copy of the same message committed first."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def parse_bundle(raw: bytes, limits: JsonLimits) -> dict[str, Any]:
    """JSON → dict, or Rejected(400) with where the body broke or what limit it exceeds."""
    too_many = limits.prescreen(raw)
    if too_many is not None:
        raise Rejected(400, [too_many])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(
            400,
            [
                Issue(
                    "fatal",
                    "structure",
                    f"The body is not valid JSON: {exc.msg} at position {exc.pos}.",
                    None,
                    "json",
                )
            ],
        ) from exc
    too_costly = limits.check(data, raw=raw)
    if too_costly is not None:
        raise Rejected(400, [too_costly])
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise Rejected(
            400,
            [
                Issue(
                    "fatal",
                    "structure",
                    f"Expected a FHIR Bundle resource, found {found!r}.",
                    "Bundle",
                    "resource-type",
                )
            ],
        )
    return data


def _header_of(bundle: dict[str, Any]) -> dict[str, Any] | None:
    entries = bundle.get("entry")
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        resource = entries[0].get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "MessageHeader":
            return resource
    return None


def _destination_ids(header: dict[str, Any]) -> list[str]:
    ids = []
    for dest in header.get("destination") or []:
        value = ((dest.get("receiver") or {}).get("identifier") or {}).get("value")
        if isinstance(value, str):
            ids.append(value)
    return ids


def _dialect_answer(translation: Translation, response: bytes) -> bytes:
    """A dialect sender's answer: a transaction-response with the warnings (located in what it
    sent) on its first entry."""
    outcome = next(
        (
            e["resource"]
            for e in orjson.loads(response).get("entry") or []
            if e["resource"]["resourceType"] == "OperationOutcome"
        ),
        None,
    )
    if outcome is not None:
        for issue in outcome.get("issue") or []:
            located = translation.locate((issue.get("expression") or [None])[0])
            if located:
                issue["expression"] = [located]
    return orjson.dumps(transaction_response(translation.original, 200, outcome))
