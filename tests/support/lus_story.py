"""A small builder for discharge cases in tests: one hospital stay told as a list of steps.

Times are written as Swedish local time ("2022-03-07 10:00") or as ISO text with an explicit offset
("2022-03-07T11:30:00Z", "2022-10-30T02:30:00+02:00"), as they arrive from other parties.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from adapter.process.case import DischargeCase, replay
from adapter.process.events import (
    Address,
    AtertagUtskrivningsklar,
    CareKind,
    Event,
    Inskrivningsmeddelande,
    KallelseTillSip,
    Makulering,
    NeedsCategory,
    Patient,
    PatientAvliden,
    PlaneringsmoteBokat,
    Planeringsunderlag,
    Utskrivningsklar,
    Utskrivningsmeddelande,
)

TZ = ZoneInfo("Europe/Stockholm")
SV = "TSTNMT2321000156-SV41"
VC = "TSTNMT2321000156-VC01"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"


def when(text: str) -> datetime:
    """Local Swedish time, unless the text carries its own offset."""
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


class Story:
    """Events of one case, with message ids m1, m2, … in the order they are told."""

    def __init__(
        self,
        first_step: str,
        *,
        case_id: str = "case-1",
        care_kind: CareKind = CareKind.SOMATIC,
        needs_both: bool = True,
        municipality: str | None = "1480",
        personnummer: str = "191212121212",
        vardcentral: str | None = VC,
        admitted_before: timedelta = timedelta(days=2),
    ) -> None:
        self.case_id = case_id
        self.events: list[Event] = []
        admitted = when(first_step) - admitted_before
        self.events.append(
            Inskrivningsmeddelande(
                **self._common(admitted + timedelta(hours=2)),
                patient=Patient(
                    identifier_system=PERSONNUMMER,
                    identifier=personnummer,
                    address=Address(municipality_code=municipality) if municipality else None,
                    vardcentral=vardcentral,
                ),
                admitted_at=admitted,
                unit=SV,
                care_kind=care_kind,
                needs_region_and_municipality=needs_both,
            )
        )

    def _common(self, at: datetime, sender: str = SV) -> dict[str, object]:
        return {
            "message_id": f"{self.case_id}-m{len(self.events) + 1}",
            "case_id": self.case_id,
            "occurred_at": at,
            "sender": sender,
        }

    @property
    def last_id(self) -> str:
        return self.events[-1].message_id

    def add(self, event: Event) -> Story:
        self.events.append(event)
        return self

    def klar(self, at: str) -> Story:
        return self.add(Utskrivningsklar(**self._common(when(at))))  # type: ignore[arg-type]

    def atertag(self, at: str) -> Story:
        return self.add(AtertagUtskrivningsklar(**self._common(when(at))))  # type: ignore[arg-type]

    def kallelse(self, at: str) -> Story:
        return self.add(KallelseTillSip(**self._common(when(at), VC)))  # type: ignore[arg-type]

    def ut(self, at: str, sent: str | None = None) -> Story:
        """Discharged at `at`; the utskrivningsmeddelande sent at `sent` (default: the same time)."""
        return self.add(
            Utskrivningsmeddelande(**self._common(when(sent or at)), discharged_at=when(at))  # type: ignore[arg-type]
        )

    def dod(self, at: str) -> Story:
        return self.add(PatientAvliden(**self._common(when(at)), died_at=when(at)))  # type: ignore[arg-type]

    def mote(self, at: str, start: str, site: str | None = None) -> Story:
        appointment = f"{self.case_id}-a{len(self.events) + 1}"
        booking = PlaneringsmoteBokat(
            **self._common(when(at), VC),  # type: ignore[arg-type]
            appointment_id=appointment,
            start=when(start),
            site=site,
        )
        return self.add(booking)

    def underlag(self, at: str, needs: NeedsCategory) -> Story:
        plan = Planeringsunderlag(**self._common(when(at)), plan_id="p1", needs_category=needs)  # type: ignore[arg-type]
        return self.add(plan)

    def makulera(self, at: str, message_id: str) -> Story:
        return self.add(Makulering(**self._common(when(at)), cancelled_message_id=message_id))  # type: ignore[arg-type]

    def case(self) -> DischargeCase:
        return replay(self.events)
