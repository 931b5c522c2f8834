"""The translate steps: dialects (mappings/<dialect>/_dialect.yaml). In: a message in its sender's
inbound dialect becomes the canonical message Bundle that the rest of the road takes (a canonical
message passes as it is). Out: what render made for a recipient, in the recipient's outbound dialect,
and the answer a dialect sender expects."""

from __future__ import annotations

from typing import Any

from adapter import metrics
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.mapping.dialects import Dialect, Dialects, Translation, case_state, transaction_response
from adapter.road.dedupe import Dedupe
from adapter.road.message import Message, Result
from adapter.road.validate import Validate
from adapter.routing.parties import case_parties
from adapter.routing.table import RoutingTable
from adapter.store.store import Store


class TranslateIn:
    def __init__(
        self,
        dialects: Dialects | None,
        routing: RoutingTable,
        store: Store,
        validate: Validate,
        dedupe: Dedupe,
    ) -> None:
        self.dialects = dialects
        self.routing = routing
        self.store = store
        self.validate = validate
        self.dedupe = dedupe

    def __call__(self, message: Message) -> Result | None:
        dialect = self._inbound_dialect(message.caller)
        if dialect is None:
            return None
        assert self.dialects is not None and message.caller is not None
        caller, bundle = message.caller, message.bundle
        # Its own form validated first, and looked up by its own id before anything is inferred.
        issues = self.validate.dialect_form(dialect, bundle)
        if any(i.blocking for i in issues):
            raise Rejected(issues)
        message_id = self.dialects.message_id(dialect, bundle, caller)
        if message_id is None:
            what = "Bundle.identifier or Bundle.id"
            raise Rejected(
                Issue("error", "required", f"No message id: {what} is needed.", "Bundle", "message-id")
            )
        previous = self.dedupe.answered_before(message_id, caller)
        if previous is not None:
            metrics.message_in(None, "duplicate")  # the event is not inferred for a resend
            return previous
        case_id = self.dialects.case_id(dialect, bundle)
        case = None
        if case_id is not None:
            with self.store.reading() as conn:
                case = self.store.load_case(conn, case_id)
        if case is not None and caller not in case_parties(case, self.routing):
            case = None  # a case is read only by its parties: the message is then refused as theirs is not
        translation = self.dialects.to_canonical(dialect, bundle, caller, case_state(case) if case else None)
        message.translation, message.bundle = translation, translation.bundle
        return None

    def _inbound_dialect(self, caller: str | None) -> Dialect | None:
        party = self.routing.party(caller) if caller else None
        name = party.inbound_dialect if party else None
        return self.dialects.get(name) if self.dialects and name else None


def translate_out(dialects: Dialects | None, name: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """A canonical message Bundle in a recipient's outbound dialect."""
    return dialects.from_canonical(name, bundle) if dialects is not None else bundle


def dialect_answer(translation: Translation, response: dict[str, Any]) -> dict[str, Any]:
    """A dialect sender's answer to the response message `response`: a transaction-response with
    the warnings (located in what it sent) on its first entry."""
    outcome = next(
        (e["resource"] for e in response["entry"] if e["resource"]["resourceType"] == "OperationOutcome"),
        None,
    )
    if outcome is not None:
        for issue in outcome.get("issue") or []:
            located = translation.locate((issue.get("expression") or [None])[0])
            if located:
                issue["expression"] = [located]
    return transaction_response(translation.original, 200, outcome)
