"""The audit trail: who sent, read, replayed or was denied what. Append-only (the store only ever
inserts into it; no endpoint or command changes or deletes a record; since migration 0003 the
database refuses UPDATE and DELETE on it). Patient identifiers only as
a keyed hash, so the log can be searched by patient (PDL log review) without holding the
personnummer itself."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from adapter.config import DEVELOPMENT_AUDIT_KEY, Settings
from adapter.store import schema
from adapter.store.store import Store
from adapter.validation.identifiers import normalise_personnummer

MIN_AUDIT_KEY_BYTES = 32
# Every LUS_AUDIT_KEY value this repository publishes (the default, the examples' placeholders):
# tests/security/test_audit.py finds them all in the repository and checks that each is here.
PUBLISHED_AUDIT_KEYS = frozenset(
    {
        DEVELOPMENT_AUDIT_KEY,
        "change-me-to-a-long-random-secret",  # examples/k8s/secret.example.yaml
        "development-only-sv",  # examples/compose.yaml before it took each key from the environment
        "development-only-vc",
        "development-only-k",
    }
)


def audit_key(settings: Settings) -> bytes:
    """The key of the patient hash. Once the adapter serves real parties (any mode but
    development) a published or short key is refused: personnummer are few enough that whoever
    knows or guesses the key can hash them all and read the log by name."""
    key = settings.audit_key.encode()
    if settings.auth_mode != "development":
        advice = f"with LUS_AUTH_MODE={settings.auth_mode} set it to a random secret of at least"
        advice += f" {MIN_AUDIT_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)."
        if settings.audit_key in PUBLISHED_AUDIT_KEYS:
            raise ValueError(f"LUS_AUDIT_KEY is a value published in the adapter's repository; {advice}")
        if len(key) < MIN_AUDIT_KEY_BYTES:
            raise ValueError(f"LUS_AUDIT_KEY is {len(key)} bytes; {advice}")
    return key


def patient_hash(identifier: str, key: bytes) -> str:
    """The keyed hash of a patient identifier, a personnummer or samordningsnummer taken in its
    12-digit form whichever way it was written (19121212-1212, 121212-1212, 1212121212 …), so
    that a search by any form finds every record."""
    normalised = normalise_personnummer(identifier) or identifier.strip()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


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


def search_hashes(identifier: str, key: bytes, *, today: date | None = None) -> list[str]:
    """The patient hashes a search for `identifier` looks for. A 10-digit personnummer does not say
    its century for sure (many systems write `-` whatever the age): both it could be are searched;
    so is the form as typed, which records written before the hash took the 12-digit form hold."""
    found = [patient_hash(identifier, key)]
    typed = hmac.new(key, identifier.strip().encode(), hashlib.sha256).hexdigest()
    if typed not in found:
        found.append(typed)
    digits = normalise_personnummer(identifier, today=today)
    if digits is not None and len(identifier.strip().replace("-", "").replace("+", "")) == 10:
        century = int(digits[:2]) - 1
        found.append(patient_hash(f"{century}{digits[2:]}", key))
    return found


@dataclass(frozen=True)
class AuditQuery:
    """Which records: of patients (by hash), of one party, in a time range."""

    patient_hashes: Sequence[str] | None = None
    party: str | None = None
    since: float | None = None
    until: float | None = None

    def where(self) -> list[Any]:
        a = schema.audit.c
        conditions: list[Any] = []
        if self.patient_hashes is not None:
            conditions.append(a.patient_hash.in_(list(self.patient_hashes)))
        if self.party is not None:
            conditions.append(a.party == self.party)
        if self.since is not None:
            conditions.append(a.at >= self.since)
        if self.until is not None:
            conditions.append(a.at < self.until)
        return conditions


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    total: int  # records matching the query, of which `records` is one page
    offset: int


def audit_log(
    store: Store, query: AuditQuery, *, limit: int = 1000, offset: int = 0, newest_first: bool = False
) -> AuditPage:
    """One page of the matching records (oldest first, or newest first), and how many match."""
    a = schema.audit
    order = (a.c.at.desc(), a.c.id.desc()) if newest_first else (a.c.at, a.c.id)
    page = select(a).where(*query.where()).order_by(*order).limit(limit).offset(offset)
    with store.reading() as conn:
        rows = conn.execute(page).all()
        total = conn.execute(select(func.count()).select_from(a).where(*query.where())).scalar_one()
    records = [
        AuditRecord(r.at, r.party, r.action, r.outcome, r.message_id, r.case_id, r.detail) for r in rows
    ]
    return AuditPage(records, int(total), offset)
