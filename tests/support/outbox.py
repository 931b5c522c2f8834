"""Messages queued for delivery straight into a store's outbox."""

from __future__ import annotations

import orjson

from adapter.runtime import Runtime
from adapter.store.store import NewOutboxItem
from tests.support.parties import KOMMUN


def message(message_id: str, case_id: str = "case-1") -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "message",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MessageHeader",
                        "id": message_id,
                        "eventCoding": {"code": "inskrivningsmeddelande"},
                        "source": {"endpoint": "http://127.0.0.1/adapter"},
                    }
                },
                {"resource": {"resourceType": "Encounter", "identifier": [{"value": case_id}]}},
            ],
        }
    )


def enqueue(
    runtime: Runtime,
    url: str,
    *ids: str,
    case_id: str = "case-1",
    now: float = 1000.0,
    recipient: str = KOMMUN,
) -> None:
    with runtime.store.transaction() as conn:
        runtime.store.outbox_add(
            conn,
            [
                NewOutboxItem(
                    i, f"src-{i}", case_id, recipient, url, "inskrivningsmeddelande", message(i, case_id)
                )
                for i in ids
            ],
            now=now,
        )
