"""The cases this adapter holds, as the read API, the FHIR searches, the dashboard and the
metrics see them: each case as of its row's version, from the store's case cache or replayed from
its event log, with its parties (who may read it, adapter/security/access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

    def cases(self, party: str | None) -> list[HeldCase]:
        """Every case `party` is a party to (None: every case), oldest first."""
        held = self._held(None)
        if party is not None:
            held = [h for h in held if party in h.parties]
        return sorted(held, key=lambda h: (h.row.created_at, h.row.case_id))

    def case(self, case_id: str) -> HeldCase | None:
        """The case, whoever asks: the caller decides who may see it (adapter/security/access.py)."""
        held = self._held(case_id)
        return held[0] if held else None

    def _held(self, case_id: str | None) -> list[HeldCase]:
        cache = self.store.cases
        with self.store.reading() as conn:
            rows = queries.case_rows(conn, case_id)
            cached = {r.case_id: case for r in rows if (case := cache.get(r.case_id, r.version)) is not None}
            logs = queries.event_payloads(conn, [r.case_id for r in rows if r.case_id not in cached])
        cases = cached | self._replayed(rows, logs)
        # A case's parties come from the case and the routing table, never from who sent it something.
        return [HeldCase(r, cases[r.case_id], case_parties(cases[r.case_id], self.routing)) for r in rows]

    def _replayed(
        self, rows: list[queries.CaseRow], logs: dict[str, list[dict[str, Any]]]
    ) -> dict[str, DischargeCase]:
        """The cases not in the cache, replayed from their logs (and cached)."""
        versions = {r.case_id: r.version for r in rows}
        fresh = {case_id: replay([event_from_dict(p) for p in log]) for case_id, log in logs.items()}
        for case_id, case in fresh.items():
            self.store.cases.put(case_id, versions[case_id], case)
        return fresh
