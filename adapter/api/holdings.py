"""The cases this adapter holds, as the read API, the FHIR searches, the dashboard and the
metrics see them: replayed from the event log once per case version, each with its parties (who
may read it, adapter/api/caller.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from adapter.api.caller import runtime_of
from adapter.process.case import DischargeCase, replay
from adapter.process.events import event_from_dict
from adapter.routing.parties import case_parties
from adapter.routing.table import RoutingTable
from adapter.store import queries
from adapter.store.store import Store


@dataclass(frozen=True)
class HeldCase:
    row: queries.CaseRow
    case: DischargeCase
    parties: frozenset[str]

    @property
    def key(self) -> tuple[str, int]:
        """Changes whenever the case does: a cache key for anything derived from it."""
        return self.row.case_id, self.row.version


class Holdings:
    def __init__(self, store: Store, routing: RoutingTable) -> None:
        self.store = store
        self.routing = routing
        self._replayed: dict[str, tuple[int, DischargeCase]] = {}
        self._lock = threading.Lock()

    def cases(self, party: str | None) -> list[HeldCase]:
        """Every case `party` is a party to (None: every case), oldest first."""
        held = self._held(None)
        if party is not None:
            held = [h for h in held if party in h.parties]
        return sorted(held, key=lambda h: (h.row.created_at, h.row.case_id))

    def case(self, case_id: str) -> HeldCase | None:
        """The case, whoever asks: the caller decides who may see it (adapter/api/case_view.py)."""
        held = self._held(case_id)
        return held[0] if held else None

    def _held(self, case_id: str | None) -> list[HeldCase]:
        with self.store.reading() as conn:
            rows = queries.case_rows(conn, case_id)
            with self._lock:
                stale = [r.case_id for r in rows if self._replayed.get(r.case_id, (None,))[0] != r.version]
            logs = queries.event_payloads(conn, stale)
        cases = self._current(rows, logs)
        # A case's parties come from the case and the routing table, never from who sent it something.
        return [HeldCase(r, cases[r.case_id], case_parties(cases[r.case_id], self.routing)) for r in rows]

    def _current(
        self, rows: list[queries.CaseRow], logs: dict[str, list[dict[str, Any]]]
    ) -> dict[str, DischargeCase]:
        """Every row's case: replayed from its log where it changed, else as replayed before."""
        versions = {r.case_id: r.version for r in rows}
        fresh = {case_id: replay([event_from_dict(p) for p in log]) for case_id, log in logs.items()}
        with self._lock:
            for case_id, case in fresh.items():
                self._replayed[case_id] = (versions[case_id], case)
            return {r.case_id: self._replayed[r.case_id][1] for r in rows}


def holdings(request: Request) -> Holdings:
    """FastAPI dependency: the app's one Holdings, made on first use."""
    state = request.app.state
    found = getattr(state, "holdings", None)
    if found is None:
        runtime = runtime_of(request)
        found = state.holdings = Holdings(runtime.store, runtime.routing)
    return found
