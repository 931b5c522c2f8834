"""A Story with the steps the avvikelser rules look at, and the kommun's kvittens.

Unless told otherwise, the kommun acknowledges every message it receives one hour after it was
sent (kvittens ids "<message>-k", outside the m-numbering).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import orjson

from adapter.process.case import DischargeCase, replay
from adapter.process.events import (
    AndratUtskrivningsdatum,
    Event,
    FastVardkontaktUtsedd,
    Kvittens,
    Makulering,
    Meddelande,
    NeedsCategory,
    Planeringsunderlag,
)
from tests.support.examples import EXAMPLES
from tests.support.lus_story import VC, Story, when
from tests.support.parties import SELF

K = "TSTNMT2321000156-K1480"
HSA = "urn:oid:1.2.752.29.4.19"
AVVIKELSE = "https://lus-adapter.org/fhir/CodeSystem/avvikelse"
# What the kommun receives by the shipped step table (tests/process/test_avvikelser.py checks it).
KOMMUN_RECEIVES = frozenset(
    {
        "inskrivningsmeddelande",
        "andrat-utskrivningsdatum",
        "planeringsunderlag",
        "utskrivningsklar",
        "atertag-utskrivningsklar",
        "kallelse-sip",
        "utskrivningsmeddelande",
        "patient-avliden",
        "permission-start",
        "permission-slut",
        "stallningstagande",
        "sip-upprattad",
        "sip-uppfoljd",
        "sip-avslutad",
        "dokumenterad-overenskommelse",
    }
)


class Case(Story):
    """A Story with the steps the deviation rules look at, and the kommun's kvittens."""

    def __init__(self, admitted: str, **kwargs: object) -> None:
        # Admitted at `admitted`; the inskrivningsmeddelande (m1) two hours later.
        super().__init__(admitted, admitted_before=timedelta(0), **kwargs)
        self.unacked: set[str] = set()  # message numbers ("m2") the kommun never acknowledges
        self.acks: list[Event] = []  # kvittenser given by hand (then no automatic one for that message)

    def id(self, number: str) -> str:
        return f"{self.case_id}-{number}"

    def sent_at(self, at: str) -> Case:
        """The inskrivningsmeddelande sent at `at` instead."""
        self.events[0] = replace(self.events[0], occurred_at=when(at))
        return self

    def expected(self, day: str) -> Case:
        self.events[0] = replace(self.events[0], expected_discharge=date.fromisoformat(day))
        return self

    def andrat(self, at: str, day: str) -> Case:
        event = AndratUtskrivningsdatum(**self._common(when(at)), expected_discharge=date.fromisoformat(day))
        return self.add(event)

    def fvk(self, at: str) -> Case:
        event = FastVardkontaktUtsedd(**self._common(when(at), VC), contact_hsa_id=f"{VC}-P1")
        return self.add(event)

    def plan(self, at: str, sender: str = K, status: str = "active") -> Case:
        event = Planeringsunderlag(
            **self._common(when(at), sender),
            plan_id=f"p-{sender}",
            needs_category=NeedsCategory.NEW_SOCIAL,
            status=status,
        )
        return self.add(event)

    def rapport(self, at: str, sender: str, code: str, concerns: str) -> Case:
        """A deviation reported by hand: a meddelande with an avvikelse code, naming the party."""
        event = Meddelande(
            **self._common(when(at), sender),  # type: ignore[arg-type]
            text="Avvikelse",
            avvikelse=code,
            concerns=concerns,
        )
        return self.add(event)  # type: ignore[return-value]

    def ack(self, at: str, number: str, code: str = "ok") -> Case:
        kvittens = Kvittens(
            message_id=self.id(f"k{len(self.acks) + 1}"),
            case_id=self.case_id,
            occurred_at=when(at),
            sender=K,
            acknowledged_message_id=self.id(number),
            code=code,
        )
        self.acks.append(kvittens)
        return self

    def void(self, at: str, number: str, sender: str) -> Case:
        return self.add(Makulering(**self._common(when(at), sender), cancelled_message_id=self.id(number)))

    def all_events(self) -> list[Event]:
        by_hand = {k.acknowledged_message_id for k in self.acks if isinstance(k, Kvittens)}
        auto = [
            Kvittens(
                message_id=f"{e.message_id}-k",
                case_id=self.case_id,
                occurred_at=e.occurred_at + timedelta(hours=1),
                sender=K,
                acknowledged_message_id=e.message_id,
            )
            for e in self.events
            if e.kind in KOMMUN_RECEIVES | {"makulering"}
            and e.sender != K
            and e.message_id not in by_hand
            and e.message_id not in {self.id(n) for n in self.unacked}
        ]
        return [*self.events, *self.acks, *auto]

    def case(self) -> DischargeCase:
        return replay(self.all_events())


def hand_report() -> dict[str, Any]:
    """The kommun reports by hand, on 28 Nov 10:00, that the unit discharged the patient before
    the kommun was ready: the kommun's meddelande (step 9) as a new message with an avvikelse code,
    the unit as recipient and destination, and no thread (a reply would go to the thread's sender)."""
    bundle = orjson.loads((EXAMPLES / "bundles" / "canonical" / "09-meddelande-svar.json").read_bytes())
    bundle["id"] = str(uuid.uuid4())
    bundle["timestamp"] = "2026-11-28T10:00:00+01:00"
    header = bundle["entry"][0]["resource"]
    header["id"] = str(uuid.uuid4())
    header["destination"] = [
        {"endpoint": "http://127.0.0.1:8081/fhir", "receiver": {"identifier": {"system": HSA, "value": SELF}}}
    ]
    communication = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication"
    )
    for name in ("inResponseTo", "identifier"):
        communication.pop(name, None)
    communication["sent"] = bundle["timestamp"]
    communication["category"] = [{"coding": [{"system": AVVIKELSE, "code": "utskriven-innan-kommunen-redo"}]}]
    communication["recipient"] = [{"identifier": {"system": HSA, "value": SELF}}]
    communication["payload"] = [{"contentString": "Hemtjänsten var inte på plats vid hemkomsten."}]
    return bundle
