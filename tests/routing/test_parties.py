"""adapter/routing/parties.py: the step table's roles resolved for the example case."""

from __future__ import annotations

import dataclasses

from adapter.process.events import Meddelande, Party
from adapter.routing.parties import BrokenRule, case_parties, may_send, receivers, resolve
from adapter.routing.steps import Role
from adapter.runtime import Runtime
from tests.support.example_case import STEPS, header_id, play_steps
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL

OTHER_UNIT = "TSTNMT2321000156-SV99"


def test_roles_resolve_to_the_parties_of_the_example_case(runtime: Runtime) -> None:
    play_steps(runtime, STEPS[:9])
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, "SU-2026-000123")
    assert case is not None
    table, steps = runtime.routing, runtime.steps
    assert case_parties(case, table) == {SELF, VARDCENTRAL, KOMMUN}
    reply = next(e for e in case.events if e.message_id == header_id(9))
    assert isinstance(reply, Meddelande)

    def who(role: Role | Party) -> frozenset[str]:
        return resolve(role, case=case, event=reply, table=table, steps=steps)

    assert who(Role.REFERENCED_SENDER) == {SELF}
    assert who(Role.REFERENCED_RECEIVERS) == {VARDCENTRAL, KOMMUN}  # the meddelande went to the others
    assert who(Role.OTHERS) == {SELF, VARDCENTRAL}
    assert who(Role.SUMMONED) == {VARDCENTRAL, KOMMUN, SELF}  # the kallelse's sender and receivers
    assert who(Party.KOMMUN) == {KOMMUN}
    # A reply goes back to the sender of the message it answers, and to no one else (`first`).
    assert receivers(steps.rule("meddelande"), case=case, event=reply, table=table, steps=steps) == {SELF}
    # Without the message it answers: the case's other parties.
    fresh = dataclasses.replace(reply, in_response_to=None)
    assert receivers(steps.rule("meddelande"), case=case, event=fresh, table=table, steps=steps) == {
        SELF,
        VARDCENTRAL,
    }


def test_may_send_returns_the_rule_a_sender_breaks(runtime: Runtime) -> None:
    play_steps(runtime, STEPS[:4])
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, "SU-2026-000123")
    assert case is not None
    table, steps = runtime.routing, runtime.steps
    ready = case.events[-1]
    assert ready.kind == "utskrivningsklar"
    rule = steps.rule("utskrivningsklar")
    assert may_send(rule, SELF, case=case, event=ready, table=table, steps=steps) is None
    broken = may_send(rule, KOMMUN, case=case, event=ready, table=table, steps=steps)
    assert broken == BrokenRule("utskrivningsklar", KOMMUN, (Role.UNIT,))
    assert "may not send a utskrivningsklar" in broken.message
    plan = case.events[2]  # planeringsunderlag: any party of the case, none other
    assert may_send(steps.rule(plan.kind), KOMMUN, case=case, event=plan, table=table, steps=steps) is None
    assert may_send(steps.rule(plan.kind), OTHER_UNIT, case=case, event=plan, table=table, steps=steps)


def test_a_named_destination_becomes_a_party_of_the_case(runtime: Runtime) -> None:
    play_steps(runtime, STEPS[:1])
    with runtime.store.reading() as conn:
        case = runtime.store.load_case(conn, "SU-2026-000123")
    assert case is not None
    note = Meddelande(
        message_id="m-1",
        case_id=case.case_id,
        occurred_at=case.events[-1].occurred_at,
        sender=SELF,
        text="Till kommunen",
        destinations=(KOMMUN,),
    )
    later = case.with_event(note)
    assert KOMMUN in later.named
    steps = runtime.steps
    assert receivers(
        steps.rule("meddelande"), case=later, event=note, table=runtime.routing, steps=steps
    ) == {KOMMUN}
