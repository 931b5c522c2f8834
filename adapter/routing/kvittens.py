"""Acknowledgements: a receiving party's kvittens, correlated with the message it answers.

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
from adapter.store.store import Store

log = structlog.get_logger("adapter.kvittens")


def record_kvittens(store: Store, conn: Connection, event: Kvittens, now: float) -> bool:
    """Note the kvittens on the outbound message it names; False if this adapter sent no such
    message (the kvittens is still accepted: the sender may answer a message sent elsewhere)."""
    found = store.record_acknowledgement(
        conn, event.acknowledged_message_id, event.code, now, kvittens_message_id=event.message_id
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
