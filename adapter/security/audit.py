"""The audit trail: who sent, read, replayed or was denied what. Append-only (the store only ever
inserts into it; no endpoint or command changes or deletes a record; since migration 0003 the
database refuses UPDATE and DELETE on it). Patient identifiers only as
a keyed hash, so the log can be searched by patient (PDL log review) without holding the
personnummer itself."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from adapter.config import DEVELOPMENT_AUDIT_KEY, Settings
from adapter.store import schema
from adapter.store.store import Store


def audit_key(settings: Settings) -> bytes:
    """The key of the patient hash. The published default is refused once the adapter serves real
    parties (any mode but development): personnummer are few enough that whoever knows the key
    can hash them all and read the log by name."""
    if settings.audit_key == DEVELOPMENT_AUDIT_KEY and settings.auth_mode != "development":
        raise ValueError(
            f"LUS_AUTH_MODE={settings.auth_mode} needs LUS_AUDIT_KEY set to a long random secret"
            " (the default is published)."
        )
    return settings.audit_key.encode()


def patient_hash(identifier: str, key: bytes) -> str:
    return hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    at: float
    party: str | None
    action: str  # receive | read-… | search | replay | authenticate | authorize
    outcome: str  # accepted | duplicate | rejected | denied | ok | requeued | …
    message_id: str | None
    case_id: str | None
    detail: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds")}


def audit_log(
    store: Store,
    *,
    patient_hash: str | None = None,
    party: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 10_000,
) -> list[AuditRecord]:
    """Audit records, oldest first: of one patient (by hash), one party, a time range."""
    a = schema.audit
    query = select(a).order_by(a.c.at, a.c.id).limit(limit)
    if patient_hash is not None:
        query = query.where(a.c.patient_hash == patient_hash)
    if party is not None:
        query = query.where(a.c.party == party)
    if since is not None:
        query = query.where(a.c.at >= since)
    if until is not None:
        query = query.where(a.c.at < until)
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [AuditRecord(r.at, r.party, r.action, r.outcome, r.message_id, r.case_id, r.detail) for r in rows]
