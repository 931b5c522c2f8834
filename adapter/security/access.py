"""Who may read which case, and the audit of every read.

A caller with the admin role reads every case the adapter holds; any other only the cases its party
is a party to (its unit, kommun or vårdcentral, or named by one of its messages); a protected
patient's name and address only the parties the routing table lets see them
(`RoutingTable.sees_protected_details`). A read is audited one record per case, with the patient
only as a keyed hash; a read answered "not found" too: `denied` where the case exists and the
reader is no party of it, `not-found` where it does not. A refused caller (401/403) is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapter.security.audit import patient_hash
from adapter.security.identity import Caller, Denied
from adapter.store.store import Store


def reading_scope(caller: Caller) -> str | None:
    """Whose cases `caller` reads: None for every case (the admin role), else its own party's, the
    cases it is a party to (adapter/routing/parties.py)."""
    return None if caller.admin else caller.party


class ReadAudit:
    """The audit records of reads, written to the store with the patient's keyed hash."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self.key = key

    def reads(
        self, party: str, case_patients: Iterable[tuple[str, str]], action: str, detail: dict[str, Any]
    ) -> None:
        """One record per case read (PDL log review finds them by patient): `case_patients` is
        (case id, patient identifier) pairs."""
        with self.store.transaction() as conn:
            for case_id, identifier in case_patients:
                self.store.audit(
                    conn,
                    party=party,
                    action=action,
                    outcome="ok",
                    case_id=case_id,
                    patient_hash=patient_hash(identifier, self.key),
                    detail=detail,
                )

    def unseen(
        self,
        party: str,
        action: str,
        owner: tuple[str, str] | None,
        detail: dict[str, Any],
        case_id: str | None = None,
    ) -> None:
        """A read answered 404: `owner` is the (case id, patient identifier) of the case that holds
        what was asked for where the reader is no party of it, None where nothing holds it."""
        self.store.audit(
            None,
            party=party,
            action=action,
            outcome="denied" if owner else "not-found",
            case_id=owner[0] if owner else case_id,
            patient_hash=patient_hash(owner[1], self.key) if owner else None,
            detail={**detail, "status": 404},
        )

    def refused(self, denied: Denied, method: str, path: str) -> None:
        """A caller refused (401 or 403)."""
        self.store.audit(
            None,
            party=denied.party,
            action="authorize" if denied.status == 403 else "authenticate",
            outcome="denied",
            detail={"method": method, "path": path[:200], "reason": denied.reason[:300]},
        )
