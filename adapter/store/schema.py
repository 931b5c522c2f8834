"""The one schema. Times that are compared in queries are UTC epoch seconds (portable and
index-friendly on SQLite and PostgreSQL alike); event times keep their ISO text with offset.

This module is the truth for the current shape; `migrations/versions/` is its history. Change
both together: `lus-adapter db revision -m "..."` writes the migration from the difference, and
tests/store/test_migrations.py fails while they disagree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# The rows that keep a (case, recipient) line: waiting to be sent, or given up and not yet skipped.
OPEN_LINES = "status IN ('pending', 'dead')"

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(200), primary_key=True),
    Column("state", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The event log: a case is its events, replayed in event-time order.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(200), nullable=False, index=True),
    Column("message_id", String(200), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("message_id", name="uq_events_message_id"),
)

# Idempotent Receiver: every accepted message id with the response it was given.
inbox = Table(
    "inbox",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("bundle_id", String(200), nullable=True),
    Column("sender", String(100), nullable=True),
    Column("case_id", String(200), nullable=True),
    Column("received_at", Float, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    # A Bundle.id seen again under a new MessageHeader.id is refused (FHIR reliable messaging).
    Index("ix_inbox_bundle_id", "bundle_id"),
)

# Transactional Outbox: written in the same transaction as the case change. A row is `pending`
# until the receiver answers ok (`delivered`) or it is given up (`dead`: the Dead Letter Channel,
# kept in place so replay keeps its id, body and history). A dead letter holds its (case, recipient)
# line until it is replayed or an operator skips it (`skipped`). The kvittens columns hold the
# receiving party's later acknowledgement, which is not the same thing as the synchronous ok.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(200), nullable=False),
    Column("source_message_id", String(200), nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("recipient", String(100), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),  # pending | delivered | dead | skipped
    Column("attempts", Integer, nullable=False, default=0),
    # Not before: the backoff of a retry, a lease's end, or a message parked behind its line.
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("delivered_by", String(100), nullable=True),  # the replica (lease owner) that delivered
    Column("dead_at", Float, nullable=True),
    Column("replayed_at", Float, nullable=True),  # a replay restarts the give-up clock
    Column("replay_count", Integer, nullable=False, default=0, server_default="0"),
    Column("skipped_at", Float, nullable=True),  # a dead letter an operator chose not to send
    Column("skipped_by", String(100), nullable=True),
    Column("skip_reason", Text, nullable=True),
    Column("kvittens_code", String(20), nullable=True),  # ok | transient-error | fatal-error
    Column("kvittens_at", Float, nullable=True),
    Column("kvittens_message_id", String(200), nullable=True),  # the kvittens message itself
    UniqueConstraint("message_id", name="uq_outbox_message_id"),
    # The claim walks this in due order (status equality, then next_attempt_at, id) and stops at
    # its limit, whatever the backlog; dead letters are found through it too.
    Index("ix_outbox_due", "status", "next_attempt_at", "id"),
    Index("ix_outbox_order", "case_id", "recipient", "id"),
    Index("ix_outbox_created", "created_at"),
    # The open rows of each (case, recipient) line: "is anything earlier still open?" is one probe.
    Index(
        "ix_outbox_open_lines",
        "case_id",
        "recipient",
        "id",
        postgresql_where=text(OPEN_LINES),
        sqlite_where=text(OPEN_LINES),
    ),
)

# Append-only: who sent, read or was refused what. Patient identifiers only as a keyed hash.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("party", String(100), nullable=True),
    Column("action", String(60), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("message_id", String(200), nullable=True),
    Column("case_id", String(200), nullable=True),
    Column("patient_hash", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
)

# The tidbok (docs/tidbok.md): this adapter's own party's bookable times for planning meetings, as
# FHIR Schedule and Slot. `resource` keeps what the party published; a slot's status is its column
# (a booking changes it with one conditional UPDATE, so two bookings of one slot cannot both win).
schedules = Table(
    "schedules",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("owner", String(100), nullable=False),  # the publishing party's HSA-id
    Column("actor", String(100), nullable=False),  # the unit's HSA-id (Schedule.actor)
    Column("resource", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_schedules_actor", "actor"),
)

slots = Table(
    "slots",
    metadata,
    Column("slot_id", String(64), primary_key=True),
    Column("schedule_id", String(64), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("actor", String(100), nullable=False),  # the schedule's actor, for schedule.actor searches
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("status", String(20), nullable=False),  # free | busy | busy-unavailable
    Column("mode", String(20), nullable=True),  # on-site | phone | video | home (Slot.serviceType)
    Column("case_id", String(200), nullable=True),  # the meeting booked into it
    Column("appointment_id", String(200), nullable=True),
    Column("resource", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_slots_search", "actor", "status", "start"),
    Index("ix_slots_schedule", "schedule_id"),
    Index("ix_slots_appointment", "case_id", "appointment_id"),
)
