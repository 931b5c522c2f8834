"""Who is reading, and which cases they may see.

`caller_party` is the FastAPI dependency every read endpoint takes the caller from. Until the
security layer names the caller (mTLS certificate or bearer token → party, set on
`request.state.party`), the caller is the party this adapter stands beside: its own integration
team and coordinators, who see every case the adapter holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import Request

from adapter.process.case import DischargeCase
from adapter.security.audit import patient_hash

if TYPE_CHECKING:  # adapter.app imports the routers that import this module
    from adapter.app import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def caller_party(request: Request) -> str:
    """HSA-id of the calling party."""
    party = getattr(request.state, "party", None)
    return party if isinstance(party, str) else runtime_of(request).routing.self_.hsa_id


def case_parties(case: DischargeCase, recipients: Iterable[str]) -> frozenset[str]:
    """The parties to a case: every sender of its messages, the admitting unit, the patient's
    vårdcentral and every party its messages were routed to."""
    parties = {e.sender for e in case.events} | set(recipients) | {case.unit}
    if case.patient.vardcentral:
        parties.add(case.patient.vardcentral)
    return frozenset(parties)


def may_read(party: str, own_party: str, parties: frozenset[str]) -> bool:
    """The adapter's own party reads all it holds; any other party only the cases it is party to."""
    return party == own_party or party in parties


def audit_reads(
    runtime: Runtime,
    party: str,
    case_patients: Iterable[tuple[str, str]],
    action: str,
    detail: dict[str, Any],
) -> None:
    """One audit record per case read (PDL log review finds them by patient): `case_patients` is
    (case id, patient identifier) pairs; the identifier is stored only as a keyed hash."""
    key = runtime.settings.audit_key.encode()
    with runtime.store.transaction() as conn:
        for case_id, identifier in case_patients:
            runtime.store.audit(
                conn,
                party=party,
                action=action,
                outcome="ok",
                case_id=case_id,
                patient_hash=patient_hash(identifier, key),
                detail=detail,
            )
