"""Kvittens: a receiving party's kvittens, correlated with the message it answers.

The synchronous `ok` a receiver gives when it takes a message is delivery; the kvittens is the
receiving party's own later message saying it has taken the content in (or could not). It is
recorded on the outbound message in the same transaction as the kvittens is accepted, shown with
the case's messages, and messages still without an `ok` kvittens after a configured time are
reported (`lus-adapter outbox unacknowledged`, GET /admin/unacknowledged, a worker log line).
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection

from adapter.process.events import Kvittens
from adapter.routing.identity import copy_id
from adapter.store.store import Store

log = structlog.get_logger("adapter.kvittens")


def record_kvittens(store: Store, conn: Connection, event: Kvittens, now: float) -> bool:
    """Note the kvittens on the outbound message it names; False if this adapter sent no such
    message (the kvittens is still accepted: the sender may answer a message sent elsewhere)."""
    # The acknowledged message is named by its origin id; this adapter sent the acknowledging party
    # its copy (adapter/routing/identity.py). A name that resolved to nothing is looked up as it is.
    found = any(
        store.record_kvittens(conn, acknowledged, event.code, now, kvittens_message_id=event.message_id)
        for acknowledged in (
            copy_id(event.acknowledged_message_id, event.sender),
            event.acknowledged_message_id,
        )
    )
    if not found:
        log.warning(
            "kvittens for a message this adapter did not send", acknowledged=event.acknowledged_message_id
        )
    elif event.code != "ok":
        log.warning(
            "receiver's kvittens reports an error",
            acknowledged=event.acknowledged_message_id,
            code=event.code,
        )
    return found
