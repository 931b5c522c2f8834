"""The runner: a message down the chain of steps, and a refusal turned into its answer."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import structlog

from adapter import metrics
from adapter.fhir.issues import MAX_EXPRESSION, bounded, operation_outcome
from adapter.fhir.rejected import Rejected
from adapter.mapping.dialects import Dialects
from adapter.mapping.engine import Mapper
from adapter.road.apply import Apply
from adapter.road.dedupe import Dedupe
from adapter.road.map_in import MapIn
from adapter.road.message import Message, Result, Step
from adapter.road.parse import Limits, Parse
from adapter.road.persist import CaseMoved, Persist
from adapter.road.refusals import NOT_YET, within
from adapter.road.render import Render
from adapter.road.route import Route
from adapter.road.translate import TranslateIn
from adapter.road.validate import Validate
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable
from adapter.security.audit import patient_hash
from adapter.security.limits import JsonLimits
from adapter.security.patient import PatientIdentity
from adapter.store.store import Store
from adapter.validation.validator import Validator

log = structlog.get_logger("adapter.road")


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
        self.dialects = dialects
        self.store = store
        self.audit_key = audit_key
        self.clock = clock
        self.source_endpoint = f"{routing.self_.base_url}/$process-message"
        me = routing.party(routing.self_.hsa_id)
        self.source_name = f"LUS adapter for {me.name if me else routing.self_.hsa_id}"
        self.map_in = map_in = MapIn(mapper, routing, PatientIdentity(validator.terminology))
        validate = Validate(validator, dialects)
        dedupe = Dedupe(store, validator, map_in, tuple(p.hsa_id for p in routing.parties))
        self.router = Route(routing, steps, send=route)
        # Up to the event: read only. The rest again whenever the case moved meanwhile.
        self.reading: tuple[Step, ...] = (
            Parse(self.limits),
            Limits(self.limits),
            TranslateIn(dialects, routing, store, validate, dedupe),
            dedupe,
            validate,
            map_in,
        )
        self.applying = Apply(store, routing, steps, map_in, dedupe, discharge_waits_for_approval)
        self.writing: tuple[Step, ...] = (
            self.applying,
            self.router,
            render := Render(mapper, dialects, self.source_endpoint, self.source_name),
            Persist(store, dedupe, routing.self_.base_url, audit_key, render.answer),
        )

    @property
    def discharge_waits_for_approval(self) -> bool:
        """The region's waiting rule of the joint sign-off, as the apply step judges it."""
        return self.applying.discharge_waits_for_approval

    @property
    def route(self) -> bool:
        """False: messages change their cases but are sent to no one (a data import)."""
        return self.router.send

    @route.setter
    def route(self, send: bool) -> None:
        self.router.send = send

    def process_message(self, raw: bytes, *, caller: str | None = None) -> Result:
        """The answer to one message, once it is durable (or refused: nothing but an audit record)."""
        message = Message(raw, caller)
        try:
            return self._walk(message)
        except Rejected as rejected:
            translation = message.translation
            issues = translation.relocate(rejected.issues) if translation else rejected.issues
            if rejected.status == NOT_YET:  # no fault of the sender's: counted apart
                metrics.message_in(metrics.kind_of(message.header), "not-yet")
            else:
                metrics.message_rejected(message.header, issues)
            self._audit_rejection(rejected, message)
            return Result(rejected.status, orjson.dumps(operation_outcome(issues)))
        finally:
            structlog.contextvars.unbind_contextvars("message_id")

    def _walk(self, message: Message) -> Result:
        for step in self.reading:
            answer = step(message)
            if answer is not None:
                return answer
        while True:
            message.now = self.clock()
            try:
                for step in self.writing:
                    answer = step(message)
                    if answer is not None:
                        return answer
            except CaseMoved:
                continue
            raise AssertionError("persist answers every message it is given")

    def _audit_rejection(self, rejected: Rejected, message: Message) -> None:
        log.info("message rejected", status=rejected.status, rules=[i.rule for i in rejected.issues][:10])
        about = message.event  # set once the message was read that far
        patient = getattr(about, "patient", None)
        self.store.audit(
            None,
            party=message.caller,
            action="receive",
            outcome="denied" if rejected.status == 403 else "rejected",
            message_id=within(about.message_id, 200) if about else None,
            case_id=within(about.case_id, 200) if about else None,
            patient_hash=patient_hash(patient.identifier, self.audit_key) if patient else None,
            detail={
                "status": rejected.status,
                "bytes": len(message.raw),
                "issues": [
                    {"rule": i.rule, "expression": bounded(i.expression or "", MAX_EXPRESSION) or None}
                    for i in rejected.issues[:50]
                ],
            },
        )
