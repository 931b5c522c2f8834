"""The latest cases in memory, each under the version of its row it was read or written at.

Rebuilding a case replays its whole event log, and the log grows with every message and every
kvittens of the case: a message to a case of 200 events took five times as long as one to a new
case. A case whose row still has the cached version is the cached case (cases are immutable; every
write through the store bumps the version), so only a case changed elsewhere — by another replica
— is replayed. Bounded: the least recently used case is dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from adapter.process.case import DischargeCase


class CaseCache:
    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._cases: OrderedDict[str, tuple[int, DischargeCase]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, case_id: str, version: int) -> DischargeCase | None:
        with self._lock:
            found = self._cases.get(case_id)
            if found is None or found[0] != version:
                return None
            self._cases.move_to_end(case_id)
            return found[1]

    def put(self, case_id: str, version: int, case: DischargeCase) -> None:
        with self._lock:
            held = self._cases.get(case_id)
            if held is not None and held[0] > version:
                return  # a later version got here first
            self._cases[case_id] = (version, case)
            self._cases.move_to_end(case_id)
            while len(self._cases) > self.size:
                self._cases.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cases)
