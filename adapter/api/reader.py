"""The reader of a request to the case views and the dashboard, as a FastAPI dependency: who is
reading, which cases they may see (adapter/security/access.py), the regional rules and the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, HTTPException

from adapter.api.caller import RuntimeDep, authenticated
from adapter.process.rules import ProcessRules
from adapter.read.case_view import TimelineEntry, case_timeline
from adapter.read.holdings import HeldCase
from adapter.rules_config import RULES_FILE
from adapter.runtime import Runtime
from adapter.security.access import reading_scope
from adapter.security.identity import Caller


@dataclass(frozen=True)
class Reader:
    """Everything a read endpoint needs: who is reading, what they may see, the rules, the time."""

    runtime: Runtime
    party: str
    rules: ProcessRules
    now: datetime
    scope: str | None  # whose cases the reader reads: its party's, or every case (None, admin)

    def cases(self) -> list[HeldCase]:
        """Every case the reader may see, oldest first."""
        return self.runtime.holdings.cases(self.scope)

    def case(self, case_id: str, action: str, detail: dict[str, Any] | None = None) -> HeldCase:
        """The case if the reader may see it (the read is audited), else a 404 that does not say
        whether the case exists (audited too)."""
        held = self.runtime.holdings.case(case_id)
        audit = self.runtime.audit
        if held is None or (self.scope is not None and self.scope not in held.parties):
            owner = (case_id, held.case.patient.identifier) if held else None
            # case_id[:200]: the column's width; a longer id is no case's
            audit.unseen(self.party, action, owner, detail or {}, case_id=case_id[:200])
            raise HTTPException(404, f"No case {case_id} that you may read.")
        audit.reads(self.party, [(case_id, held.case.patient.identifier)], action, detail or {})
        return held

    def timeline(self, held: HeldCase) -> list[TimelineEntry]:
        return case_timeline(self.runtime.store, held, self.rules, self.now)


def process_rules(runtime: Runtime) -> ProcessRules:
    """The regional LUS rules, read at start-up; a 503 where there are none."""
    if runtime.rules is None:
        file = runtime.settings.config_folder() / RULES_FILE
        raise HTTPException(503, f"No regional rules: {file} does not exist.")
    return runtime.rules


async def reader(runtime: RuntimeDep, caller: Caller = Depends(authenticated)) -> Reader:
    """FastAPI dependency: the Reader of this request, at the pipeline's clock (tests set it)."""
    rules = process_rules(runtime)
    now = datetime.fromtimestamp(runtime.pipeline.clock(), UTC)
    return Reader(runtime, caller.party, rules, now, reading_scope(caller))
