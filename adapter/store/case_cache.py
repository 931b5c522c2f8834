"""The latest cases in memory, each under the version of its row it was read or written at, with
what the read side derived from it at that version (its FHIR resources).

Rebuilding a case replays its whole event log, and the log grows with every message and every
kvittens of the case: a message to a case of 200 events took five times as long as one to a new
case. A case whose row still has the cached version is the cached case (cases are immutable; every
write through the store bumps the version), so only a case changed elsewhere — by another replica
— is replayed. The one case cache of the process: the store writes and reads through it, the read
side (adapter/read/) shares it. Bounded (settings.case_cache_size): the least recently used case is
dropped first, with everything derived from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adapter.process.case import DischargeCase

T = TypeVar("T")


@dataclass
class _Held:
    version: int
    case: DischargeCase
    derived: dict[Hashable, Any] = field(default_factory=dict)


class CaseCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._cases: OrderedDict[str, _Held] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, case_id: str, version: int) -> DischargeCase | None:
        with self._lock:
            found = self._cases.get(case_id)
            if found is None or found.version != version:
                return None
            self._cases.move_to_end(case_id)
            return found.case

    def put(self, case_id: str, version: int, case: DischargeCase) -> None:
        with self._lock:
            held = self._cases.get(case_id)
            if held is not None and held.version >= version:
                if held.version == version:
                    self._cases.move_to_end(case_id)
                return  # a later version got here first, or this one is held already
            self._cases[case_id] = _Held(version, case)
            self._cases.move_to_end(case_id)
            while len(self._cases) > self.size:
                self._cases.popitem(last=False)

    def derived(self, case_id: str, version: int, key: Hashable, make: Callable[[], T]) -> T:
        """What `make` derives from the case at `version`, made once while that version is held."""
        with self._lock:
            held = self._cases.get(case_id)
            if held is not None and held.version == version and key in held.derived:
                found: T = held.derived[key]
                return found
        made = make()
        with self._lock:
            held = self._cases.get(case_id)
            if held is not None and held.version == version:
                held.derived[key] = made
        return made

    def __len__(self) -> int:
        return len(self._cases)
