"""Avvikelser per party and month over the stored cases, for the regional follow-up: JSON and CSV.

Shared by `lus-adapter avvikelser` (cli/avvikelser.py) and GET /admin/avvikelser. A deviation
belongs to the month its clock started (admission, utskrivningsklar, discharge, the message sent,
the booking); deviations still to come (a deadline not yet passed) are judged as of the end of the
period, or now if that is earlier. The export names cases by their case id and times only: never a
personnummer or a name.
Listing a case's deviations is a read of that case: the callers audit one record per case listed.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from adapter.process.avvikelser import Deviation, Parties, Rule, deviations
from adapter.process.case import DischargeCase
from adapter.process.events import Party
from adapter.process.kalender import day_start
from adapter.process.rules import ProcessRules
from adapter.routing.steps import Role, StepTable
from adapter.routing.table import RoutingTable
from adapter.security.audit import patient_hash

if TYPE_CHECKING:
    from adapter.store.store import Store

MONTH_PATTERN = r"^(\d{4})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)
# Receivers that include the case's kommun (the `first: true` steps name one party: left out).
_KOMMUN_ROLES = {Role.KOMMUN, Party.KOMMUN, Role.OTHERS, Role.PARTIES}


def parties_from(routing: RoutingTable, steps: StepTable) -> Parties:
    """What the deviation rules need of the routing and step tables. An adapter whose own party
    is in its routing table stands beside that party and sees only its messages; else it is a hub."""
    own = routing.self_.hsa_id
    return Parties(
        kinds={p.hsa_id: p.kind for p in routing.parties},
        kommuner={
            p.municipality: p.hsa_id for p in routing.parties if p.kind is Party.KOMMUN and p.municipality
        },
        kommun_receives=frozenset(
            kind
            for kind, rule in steps.steps.items()
            if not rule.first and _KOMMUN_ROLES.intersection(rule.receivers)
        ),
        observer=own if routing.party(own) is not None else None,
    )


def parse_month(text: str, name: str) -> date:
    """The first day of a month written YYYY-MM; ValueError naming the parameter otherwise."""
    found = _MONTH.match(text.strip())
    if found is None:
        raise ValueError(f"{name} must be a month YYYY-MM, not {text!r}")
    return date(int(found[1]), int(found[2]), 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@dataclass(frozen=True, kw_only=True)
class Period:
    first: date  # first day of the first month
    last: date  # first day of the last month, included

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("the last month is before the first")
        if self.last.year >= 9999:  # the month after it has no date
            raise ValueError("the last month must be before 9999-12")

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        return day_start(next_month(self.last))

    def holds(self, month: str) -> bool:
        return self.first.strftime("%Y-%m") <= month <= self.last.strftime("%Y-%m")


@dataclass(frozen=True)
class Found:
    deviations: list[Deviation]
    patients: dict[str, str]  # case id → patient identifier, for the audit record only


def collect(
    cases: Iterable[DischargeCase], period: Period, rules: ProcessRules, parties: Parties, now: datetime
) -> Found:
    """The deviations of every case that belong to the period, as seen at `now`."""
    found: list[Deviation] = []
    patients: dict[str, str] = {}
    for case in cases:
        if case.admitted_at >= period.end:
            continue
        mine = [d for d in deviations(case, now, rules, parties) if period.holds(d.month)]
        if mine:
            found.extend(mine)
            patients[case.case_id] = case.patient.identifier
    found.sort(key=lambda d: (d.month, d.party, d.case_id, d.since))
    return Found(found, patients)


def as_document(found: list[Deviation], period: Period, now: datetime, rules: ProcessRules) -> dict[str, Any]:
    """Counts per party and month (each rule's, and of those the ones reported by hand), and every
    deviation."""
    per: dict[tuple[str, str | None, str], Counter[str]] = {}
    reported: dict[tuple[str, str | None, str], Counter[str]] = {}
    for d in found:
        key = (d.party, d.party_kind.value if d.party_kind else None, d.month)
        per.setdefault(key, Counter())[d.rule.value] += 1
        reported.setdefault(key, Counter())[d.rule.value] += d.reported_by is not None
    return {
        "period": {
            "from": period.first.strftime("%Y-%m"),
            "to": period.last.strftime("%Y-%m"),
            "as_of": now.isoformat(),
        },
        "thresholds": {
            "inskrivningsmeddelande_hours": rules.deadlines.inskrivning_within.total_seconds() / 3600,
            "kallelse_sip_days": rules.deadlines.kallelse_within_days,
            "kvittens_hours": rules.deadlines.kvittens_within.total_seconds() / 3600,
        },
        "rules": [r.value for r in Rule],
        "by_party_month": [
            {
                "party": party,
                "party_kind": kind,
                "month": month,
                "total": sum(counts.values()),
                "by_rule": dict(sorted(counts.items())),
                "reported_by_hand": {r: n for r, n in sorted(reported[party, kind, month].items()) if n},
            }
            for (party, kind, month), counts in sorted(per.items(), key=lambda item: (item[0][0], item[0][2]))
        ],
        "deviations": [_deviation(d) for d in found],
    }


def _deviation(d: Deviation) -> dict[str, Any]:
    return {
        "rule": d.rule.value,
        "case_id": d.case_id,
        "party": d.party,
        "party_kind": d.party_kind.value if d.party_kind else None,
        "month": d.month,
        "since": d.since.isoformat(),
        "due": d.due.isoformat() if d.due else None,
        "done_at": d.done_at.isoformat() if d.done_at else None,
        "message_id": d.message_id,
        "reported_by": d.reported_by,
    }


def to_json(document: dict[str, Any]) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


SUMMARY_COLUMNS = ("party", "party_kind", "month", "rule", "count", "reported_by_hand")
DETAIL_COLUMNS = (
    "rule",
    "case_id",
    "party",
    "party_kind",
    "month",
    "since",
    "due",
    "done_at",
    "message_id",
    "reported_by",
)


def to_csv(document: dict[str, Any], *, detail: bool = False) -> str:
    """One row per party, month and rule with its count (of which reported by hand); or (`detail`)
    one row per deviation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if detail:
        writer.writerow(DETAIL_COLUMNS)
        writer.writerows([_cell(row[c]) for c in DETAIL_COLUMNS] for row in document["deviations"])
        return out.getvalue()
    writer.writerow(SUMMARY_COLUMNS)
    for row in document["by_party_month"]:
        for rule, count in row["by_rule"].items():
            by_hand = row["reported_by_hand"].get(rule, 0)
            writer.writerow((row["party"], _cell(row["party_kind"]), row["month"], rule, count, by_hand))
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


def audit_export(store: Store, found: Found, party: str, key: bytes, period: Period) -> None:
    """One audit record per case the export lists (a read of that case), patient only as a hash."""
    detail = {"export": "avvikelser", "from": period.first.isoformat(), "to": period.last.isoformat()}
    with store.transaction() as conn:
        for case_id, identifier in found.patients.items():
            store.audit(
                conn,
                party=party,
                action="read-avvikelser",
                outcome="ok",
                case_id=case_id,
                patient_hash=patient_hash(identifier, key),
                detail=detail,
            )
