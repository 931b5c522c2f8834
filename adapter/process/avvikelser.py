"""Avvikelser (deviations) between the parties, detected from one case's events, with `now` passed in.

Halland follows its routine by the deviations between the parties: messages late or missing,
patients discharged before the municipality was ready. Each deviation names the rule, the party
responsible (HSA-id and kind), the times involved and the case — never the patient.

The legal deadlines (inskrivningsmeddelande, kallelse till SIP, utskrivningsmeddelande) are read from
`deadlines()`, never computed again here. Thresholds come from the regional rules (lus-rules.yaml).

What an adapter sees decides what it can judge: a hub sees every message; a sidecar sees the
messages its own party sent or received, and a kvittens only where it travels (between the
kommun and the sender of the message it acknowledges), so a kvittens is judged only there.

A party reports a deviation by hand as a meddelande with an avvikelse code (CodeSystem avvikelse,
Communication.category) naming the party it concerns (Communication.recipient, and as destination,
so the router sends it there): it is listed beside the detected ones, with who reported it.

"The municipality was ready" is marked by the kommun's own planeringsunderlag (status active or
completed: its contribution planned) sent before the discharge; it is required when the case's
needs category says new services are needed (new-social, new-health, new-advanced).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from adapter.process.case import CaseState, DischargeCase
from adapter.process.deadlines import INSKRIVNING, KALLELSE, UTSKRIVNING, DeadlineStatus, deadlines
from adapter.process.events import (
    Event,
    FastVardkontaktUtsedd,
    Kvittens,
    Makulering,
    Meddelande,
    NeedsCategory,
    Party,
    PlaneringsmoteBokat,
    Planeringsunderlag,
)
from adapter.process.kalender import after, day_start, instant, local_day, month_of
from adapter.process.rules import ProcessRules

UNKNOWN = "okänd"
NEEDS_KOMMUN = frozenset({NeedsCategory.NEW_SOCIAL, NeedsCategory.NEW_HEALTH, NeedsCategory.NEW_ADVANCED})
READY_PLAN_STATUSES = frozenset({"active", "completed"})


class Rule(enum.StrEnum):
    """The deviations detected, by name; the party responsible in brackets."""

    INSKRIVNING_SEN = "inskrivningsmeddelande-sent"  # [SV] later than the configured hours
    KALLELSE_SEN = "kallelse-sip-sent"  # [OV] later than the configured days after utskrivningsklar
    KALLELSE_SAKNAS = "kallelse-sip-saknas"  # [OV] not sent, and its deadline has passed
    UTSKRIVNING_SEN = "utskrivningsmeddelande-sent"  # [SV] not sent on the day of discharge
    KVITTENS_SEN = "kvittens-sen"  # [K] acknowledged, but later than the configured hours
    KVITTENS_SAKNAS = "kvittens-saknas"  # [K] not acknowledged, and the configured hours have passed
    MOTE_EFTER_UTSKRIVNING = "mote-bokat-efter-utskrivning"  # [the booker] booked after discharge
    UTSKRIVEN_INNAN_KOMMUNEN_REDO = "utskriven-innan-kommunen-redo"  # [SV] see the module text
    UTSKRIVEN_UTAN_UTSKRIVNINGSKLAR = "utskriven-utan-utskrivningsklar"  # [SV] no notice ever sent
    UTSKRIVEN_FORE_BERAKNAT_DATUM = "utskriven-fore-beraknat-datum"  # [SV] earlier than last told
    FAST_VARDKONTAKT_SAKNAS = "fast-vardkontakt-saknas"  # [OV] none named by discharge (needs both)
    ANNAN = "annan"  # any other, reported by hand


@dataclass(frozen=True, kw_only=True)
class Parties:
    """What the caller knows of the parties, from its routing table and step table."""

    kinds: Mapping[str, Party] = field(default_factory=dict)  # HSA-id → kind
    kommuner: Mapping[str, str] = field(default_factory=dict)  # SCB kommunkod → the kommun's HSA-id
    kommun_receives: frozenset[str] = frozenset()  # steps the case's kommun receives
    observer: str | None = None  # the party this adapter stands beside; None: a hub that sees all


@dataclass(frozen=True, kw_only=True)
class Deviation:
    rule: Rule
    case_id: str
    party: str  # HSA-id of the party responsible, or a kommunkod / "okänd" when not known
    party_kind: Party | None
    since: datetime  # when the clock started (or the event itself): the deviation's month
    due: datetime | None  # when it had to be done by, where a deadline applies
    done_at: datetime | None  # when it was done (late), None if not done
    message_id: str | None = None  # the message concerned (late, unacknowledged, booking, the report)
    reported_by: str | None = None  # HSA-id of the party that reported it by hand; None: detected

    @property
    def month(self) -> str:
        return month_of(local_day(self.since))


def deviations(case: DischargeCase, now: datetime, rules: ProcessRules, parties: Parties) -> list[Deviation]:
    """Every deviation of the case as seen at `now`, ordered by when its clock started."""
    if case.state is CaseState.MAKULERAD:
        return []
    ctx = _Context(case, now, rules, parties)
    found = [
        *ctx.deadlines(),
        *ctx.kvittenser(),
        *ctx.late_bookings(),
        *ctx.discharge(),
        *ctx.reported(),
    ]
    return sorted(found, key=lambda d: (instant(d.since), d.rule.value, d.message_id or ""))


class _Context:
    def __init__(self, case: DischargeCase, now: datetime, rules: ProcessRules, parties: Parties) -> None:
        self.case, self.now, self.rules, self.parties = case, now, rules, parties
        self.current = [e for e in case.events if e.message_id not in case.cancelled]
        address = case.patient.address
        kommunkod = address.municipality_code if address else None
        known = parties.kommuner.get(kommunkod) if kommunkod else None
        self.kommun = known or (f"kommunkod {kommunkod}" if kommunkod else UNKNOWN)
        self.kommun_known = known is not None

    def deviation(
        self,
        rule: Rule,
        party: str | None,
        kind: Party | None,
        *,
        since: datetime,
        due: datetime | None,
        done_at: datetime | None,
        message_id: str | None = None,
        reported_by: str | None = None,
    ) -> Deviation:
        """Attributed to `party`, of the kind the routing table says (else `kind`)."""
        party = party or UNKNOWN
        return Deviation(
            rule=rule,
            case_id=self.case.case_id,
            party=party,
            party_kind=self.parties.kinds.get(party, kind),
            since=since,
            due=due,
            done_at=done_at,
            message_id=message_id,
            reported_by=reported_by,
        )

    # --- the legal deadlines, as deadlines() computed them ---

    def deadlines(self) -> list[Deviation]:
        found = []
        for d in deadlines(self.case, self.now, self.rules):
            if d.status is DeadlineStatus.LATE:
                rule = _LATE[d.kind]
            elif d.status is DeadlineStatus.OVERDUE and d.kind == KALLELSE:
                rule = Rule.KALLELSE_SAKNAS
            else:
                continue  # met, open; an overdue admission or discharge notice cannot be: they make the case
            found.append(
                self.deviation(
                    rule,
                    d.sender,
                    _RESPONSIBLE[d.kind],
                    since=d.since,
                    due=d.due,
                    done_at=d.met_at,
                    message_id=d.message_id,
                )
            )
        return found

    # --- kvittens from the kommun ---

    def kvittenser(self) -> list[Deviation]:
        found = []
        wait = self.rules.deadlines.kvittens_within
        for event in self.current:
            if not self._kommun_receives(event) or not self._sees_kvittens(event):
                continue
            due = after(event.occurred_at, wait)
            acked = self._acknowledged_at(event)
            if acked is not None and instant(acked) <= instant(due):
                continue
            if acked is None and instant(self.now) < instant(due):
                continue
            rule = Rule.KVITTENS_SAKNAS if acked is None else Rule.KVITTENS_SEN
            found.append(
                self.deviation(
                    rule,
                    self.kommun,
                    Party.KOMMUN,
                    since=event.occurred_at,
                    due=due,
                    done_at=acked,
                    message_id=event.message_id,
                )
            )
        return found

    def _kommun_receives(self, event: Event) -> bool:
        if isinstance(event, Kvittens) or event.sender == self.kommun:
            return False
        if self.parties.kinds.get(event.sender) is Party.KOMMUN:
            return False
        if isinstance(event, Makulering):
            voided = next((e for e in self.case.events if e.message_id == event.cancelled_message_id), None)
            return voided is not None and self._kommun_receives(voided)
        if event.kind in self.parties.kommun_receives:
            return True
        named = getattr(event, "participants", ())
        return self.kommun_known and any(p.hsa_id == self.kommun for p in named)

    def _sees_kvittens(self, event: Event) -> bool:
        observer = self.parties.observer
        return observer is None or observer in (event.sender, self.kommun)

    def _acknowledged_at(self, event: Event) -> datetime | None:
        times = [
            k.occurred_at
            for k in self.current
            if isinstance(k, Kvittens)
            and k.acknowledged_message_id == event.message_id
            and k.code == "ok"
            and self._from_kommun(k)
        ]
        return min(times, key=instant) if times else None

    def _from_kommun(self, event: Event) -> bool:
        if self.kommun_known:
            return event.sender == self.kommun
        return self.parties.kinds.get(event.sender, Party.KOMMUN) is Party.KOMMUN

    # --- planning meetings booked after the discharge ---

    def late_bookings(self) -> list[Deviation]:
        discharged = self.case.discharged_at
        if discharged is None:
            return []
        return [
            self.deviation(
                Rule.MOTE_EFTER_UTSKRIVNING,
                e.sender,
                None,
                since=e.occurred_at,
                due=discharged,
                done_at=e.occurred_at,
                message_id=e.message_id,
            )
            for e in self.current
            if isinstance(e, PlaneringsmoteBokat) and instant(e.occurred_at) > instant(discharged)
        ]

    # --- the discharge itself ---

    def discharge(self) -> list[Deviation]:
        case, discharged = self.case, self.case.discharged_at
        if case.state is not CaseState.UTSKRIVEN or discharged is None:
            return []
        found = []
        before = [e for e in self.current if instant(e.occurred_at) <= instant(discharged)]

        def at_discharge(rule: Rule, party: str | None, kind: Party, due: datetime | None = None) -> None:
            found.append(self.deviation(rule, party, kind, since=discharged, due=due, done_at=None))

        if case.needs_category in NEEDS_KOMMUN and not any(
            isinstance(e, Planeringsunderlag)
            and e.status in READY_PLAN_STATUSES
            and self._from_kommun_plan(e)
            for e in before
        ):
            at_discharge(Rule.UTSKRIVEN_INNAN_KOMMUNEN_REDO, case.unit, Party.SLUTENVARD)
        if not case.ready_periods:
            at_discharge(Rule.UTSKRIVEN_UTAN_UTSKRIVNINGSKLAR, case.unit, Party.SLUTENVARD)
        expected = case.expected_discharge
        if expected is not None and local_day(discharged) < expected:
            at_discharge(Rule.UTSKRIVEN_FORE_BERAKNAT_DATUM, case.unit, Party.SLUTENVARD, day_start(expected))
        if case.needs_region_and_municipality and not any(
            isinstance(e, FastVardkontaktUtsedd) for e in before
        ):
            at_discharge(Rule.FAST_VARDKONTAKT_SAKNAS, case.patient.vardcentral, Party.OPPENVARD)
        return found

    # --- reported by hand: a meddelande with an avvikelse code, naming the party it concerns ---

    def reported(self) -> list[Deviation]:
        return [
            self.deviation(
                Rule(e.avvikelse) if e.avvikelse in _RULES else Rule.ANNAN,
                e.concerns,
                None,
                since=e.occurred_at,
                due=None,
                done_at=None,
                message_id=e.message_id,
                reported_by=e.sender,
            )
            for e in self.current
            if isinstance(e, Meddelande) and e.avvikelse
        ]

    def _from_kommun_plan(self, plan: Planeringsunderlag) -> bool:
        return (
            plan.sender != self.case.unit
            and plan.sender != self.case.patient.vardcentral
            and self._from_kommun(plan)
        )


_RULES = frozenset(r.value for r in Rule)
_LATE = {INSKRIVNING: Rule.INSKRIVNING_SEN, KALLELSE: Rule.KALLELSE_SEN, UTSKRIVNING: Rule.UTSKRIVNING_SEN}
_RESPONSIBLE = {INSKRIVNING: Party.SLUTENVARD, KALLELSE: Party.OPPENVARD, UTSKRIVNING: Party.SLUTENVARD}
