"""The road's steps, each alone, and what the chain promises as a whole: one Rejected root for every
refusal that carries issues, outbound messages rendered before the write transaction, and a case
changed meanwhile applied, routed and rendered again (its messages written in order)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection

from adapter.api.body import BodyRejected
from adapter.api.tidbok import Refused
from adapter.app import Runtime
from adapter.config import Settings
from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.mapping.dialects import Rejection
from adapter.mapping.inbound import MappingFailed
from adapter.road.message import Message, Result
from adapter.road.parse import Limits, Parse, read_json
from adapter.road.render import Render
from adapter.road.validate import Validate
from adapter.routing.access import AccessDenied, ReferenceUnknown
from adapter.routing.parties import PartyUnknown
from adapter.security.limits import JsonLimits
from adapter.security.patient import PatientMismatch
from tests.support.dialects import dialect_runtime, sequence
from tests.support.examples import fresh_copy, load_example
from tests.support.parties import SELF
from tests.support.validation_messages import message

ISSUE = Issue("error", "invalid", "why", "Bundle", "a-rule")


def new(event: str) -> bytes:
    bundle: dict[str, Any] = copy.deepcopy(message(event))
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return orjson.dumps(bundle)


def refused(step: Any, message: Message) -> Rejected:
    with pytest.raises(Rejected) as info:
        step(message)
    return info.value


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (AccessDenied(ISSUE), 403),
        (ReferenceUnknown(ISSUE), 422),
        (PartyUnknown(ISSUE), 422),
        (PatientMismatch(ISSUE), 422),
        (MappingFailed([ISSUE]), 422),
        (Rejection([ISSUE]), 422),
        (BodyRejected(413, ISSUE), 413),
        (Refused(400, ISSUE), 400),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_refusal_that_carries_issues_is_a_rejected(refusal: Rejected, status: int) -> None:
    assert isinstance(refusal, Rejected)
    assert (refusal.status, refusal.issues, refusal.issue) == (status, [ISSUE], ISSUE)


def test_parse_and_limits_each_refuse_alone() -> None:
    limits = JsonLimits()
    broken = refused(Parse(limits), Message(b'{"resourceType": "Bundle",', None))
    assert broken.status == 400 and broken.issue.rule == "json"
    parsed = Message(b'{"resourceType": "Patient"}', None)
    assert Parse(limits)(parsed) is None and parsed.bundle == {"resourceType": "Patient"}
    not_a_bundle = refused(Limits(limits), parsed)
    assert not_a_bundle.status == 400 and not_a_bundle.issue.rule == "resource-type"
    deep = Message(b"{}", None, bundle={"resourceType": "Bundle", "x": [[[[]]]]})
    too_deep = refused(Limits(JsonLimits(max_depth=3)), deep)
    assert too_deep.status == 400 and too_deep.issue.code == "too-costly"


def test_the_json_reader_of_the_road_is_the_one_validate_uses() -> None:
    limits = JsonLimits(max_depth=3)
    assert read_json(b'{"resourceType": "Patient"}', limits, "Patient") == {"resourceType": "Patient"}
    with pytest.raises(Rejected) as info:
        read_json(b'{"resourceType": "Patient", "x": [[[1]]]}', limits, "Patient")
    assert info.value.status == 400 and info.value.issue.expression == "Patient.x[0]"


def test_validate_alone_fills_in_the_index_or_refuses_a_reference_cycle(runtime: Runtime) -> None:
    validate = Validate(runtime.validator, runtime.pipeline.dialects)
    good = Message(b"", None, bundle=fresh_copy(load_example("inskrivningsmeddelande.json")))
    assert validate(good) is None and isinstance(good.index, BundleIndex)
    cyclic = fresh_copy(load_example("inskrivningsmeddelande.json"))
    encounter = next(e for e in cyclic["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["resource"]["partOf"] = {"reference": encounter["fullUrl"]}
    rejected = refused(validate, Message(b"", None, bundle=cyclic))
    assert (rejected.status, rejected.issue.rule) == (422, "reference-cycle")


@pytest.fixture
def in_transaction(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether a write transaction was open at each outbound rendering."""
    store, seen, open_now = runtime.store, [], [False]
    transaction, to_bundle = store.transaction, runtime.mapper.to_bundle

    @contextmanager
    def watched() -> Iterator[Connection]:
        open_now[0] = True
        try:
            with transaction() as conn:
                yield conn
        finally:
            open_now[0] = False

    def rendering(*args: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(open_now[0])
        return to_bundle(*args, **kwargs)

    monkeypatch.setattr(store, "transaction", watched)
    monkeypatch.setattr(runtime.mapper, "to_bundle", rendering)
    return seen


def test_outbound_messages_are_rendered_before_the_write_transaction_opens(
    runtime: Runtime, in_transaction: list[bool]
) -> None:
    result = runtime.pipeline.process_message(new("inskrivningsmeddelande"))
    assert result.status == 200, result.body[:300]
    assert in_transaction and not any(in_transaction)
    assert result.case_id is not None
    assert [r.recipient for r in runtime.store.case_messages(result.case_id)], "what was rendered is written"


def test_a_case_changed_meanwhile_is_applied_routed_and_rendered_again_and_written_in_order(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = runtime.pipeline.process_message(new("inskrivningsmeddelande"))
    assert opened.status == 200 and opened.case_id is not None
    render = next(step for step in runtime.pipeline.writing if isinstance(step, Render))
    real, rendered = render.__call__, []
    meanwhile, later = new("meddelande"), new("meddelande")

    def rendering(message: Message) -> Result | None:
        assert message.event is not None
        rendered.append(message.event.message_id)
        if len(rendered) == 1:  # another message to the case is written between this one's read and write
            assert runtime.pipeline.process_message(meanwhile).status == 200
        return real(message)

    steps = runtime.pipeline.writing
    monkeypatch.setattr(runtime.pipeline, "writing", tuple(rendering if s is render else s for s in steps))
    result = runtime.pipeline.process_message(later)
    assert result.status == 200, result.body[:300]
    first, second = (orjson.loads(raw)["entry"][0]["resource"]["id"] for raw in (meanwhile, later))
    assert rendered == [second, first, second]
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, opened.case_id)
    assert case is not None and [e.message_id for e in case.events][-2:] == [first, second]
    per_recipient: dict[str, list[str]] = {}
    for row in runtime.store.case_messages(opened.case_id):
        per_recipient.setdefault(row.recipient, []).append(row.source_message_id)
    assert per_recipient and all(ids[-2:] == [first, second] for ids in per_recipient.values())


@pytest.fixture(params=["transaction", "communication"])
def dialect_sender(settings: Settings, request: pytest.FixtureRequest) -> Iterator[tuple[Runtime, str]]:
    for runtime in dialect_runtime(settings, request.param):
        yield runtime, request.param


def test_a_dialect_message_is_looked_up_once_before_it_is_translated(
    dialect_sender: tuple[Runtime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, form = dialect_sender
    store, lookups = runtime.store, []
    for name in ("inbox_get", "inbox_seen"):

        def counted(*args: Any, _real: Any = getattr(store, name), _name: str = name) -> Any:
            lookups.append(_name)
            return _real(*args)

        monkeypatch.setattr(store, name, counted)
    _, first = sequence(form)[0]
    assert runtime.pipeline.process_message(orjson.dumps(first), caller=SELF).status == 200
    # By its own id before anything is inferred, then in the write (a copy committed meanwhile).
    assert lookups == ["inbox_get", "inbox_get"]


@pytest.mark.parametrize("event", ["inskrivningsmeddelande", "meddelande"])
def test_a_copy_written_between_dedupe_and_apply_gets_the_answer_that_copy_got(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, event: str
) -> None:
    if event != "inskrivningsmeddelande":
        assert runtime.pipeline.process_message(new("inskrivningsmeddelande")).status == 200
    raw, copies = new(event), []
    map_in = runtime.pipeline.map_in

    def mapping(message: Message) -> Result | None:
        if not copies:  # the other copy, sent at the same moment, is written first
            copies.append(None)
            copies.append(runtime.pipeline.process_message(raw))
        return map_in(message)

    steps = runtime.pipeline.reading
    monkeypatch.setattr(runtime.pipeline, "reading", tuple(mapping if s is map_in else s for s in steps))
    result = runtime.pipeline.process_message(raw)
    first = copies[1]
    assert first is not None and first.status == 200, first
    assert (result.status, result.body, result.duplicate) == (200, first.body, True)
