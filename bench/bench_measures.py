"""How long the report's arithmetic takes: replay, betalningsansvar and outcome measures.

    .venv/bin/python bench/bench_measures.py [cases]

A region's year is about 40 000 discharges with a planning case; the default is a year of them.
Prints figures; asserts nothing (targets belong here, not in timed tests).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adapter.process.betalningsansvar import betalningsansvar
from adapter.process.case import DischargeCase, replay
from adapter.process.events import (
    Address,
    Event,
    Inskrivningsmeddelande,
    KallelseTillSip,
    Patient,
    Utskrivningsklar,
    Utskrivningsmeddelande,
)
from adapter.process.measures import outcome_measures
from adapter.rules_config import load_rules

TZ = ZoneInfo("Europe/Stockholm")
SV, VC = "TSTNMT2321000156-SV41", "TSTNMT2321000156-VC01"


def stay(n: int, rng: random.Random) -> list[Event]:
    admitted = datetime(2026, 1, 1, tzinfo=TZ) + timedelta(minutes=rng.randrange(365 * 24 * 60))
    klar = admitted + timedelta(hours=rng.randrange(12, 240))
    out = klar + timedelta(hours=rng.choice([2, 10, 20, 30, 60, 100, 200]))
    common = {"case_id": f"case-{n}", "sender": SV}
    return [
        Inskrivningsmeddelande(
            message_id=f"{n}-1",
            occurred_at=admitted + timedelta(hours=2),
            patient=Patient(
                identifier_system="http://electronichealth.se/identifier/personnummer",
                identifier="191212121212",
                address=Address(municipality_code=rng.choice(["1480", "1490", "0180"])),
                vardcentral=VC,
            ),
            admitted_at=admitted,
            unit=SV,
            **common,  # type: ignore[arg-type]
        ),
        Utskrivningsklar(message_id=f"{n}-2", occurred_at=klar, **common),  # type: ignore[arg-type]
        KallelseTillSip(
            message_id=f"{n}-3", occurred_at=klar + timedelta(hours=rng.randrange(1, 100)), **common
        ),  # type: ignore[arg-type]
        Utskrivningsmeddelande(message_id=f"{n}-4", occurred_at=out, discharged_at=out, **common),  # type: ignore[arg-type]
    ]


def timed(label: str, count: int, work: object) -> object:
    start = time.perf_counter()
    result = work() if callable(work) else work
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds * 1000:9.1f} ms  {count / seconds:12,.0f} cases/s")
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    rng = random.Random(4)
    rules = load_rules(Path(__file__).resolve().parent.parent / "examples" / "config")
    logs = [stay(n, rng) for n in range(count)]
    cases: list[DischargeCase] = timed("replay event logs", count, lambda: [replay(log) for log in logs])  # type: ignore[assignment]
    now = datetime(2027, 1, 1, tzinfo=TZ)
    for agreement in rules.agreements.values():
        timed(
            f"betalningsansvar ({agreement.name})",
            count,
            lambda a=agreement: [betalningsansvar(c, a, now) for c in cases],
        )
    start, end = datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ)
    measures = timed(
        "outcome measures, one year", count, lambda: outcome_measures(cases, start, end, rules, now)
    )
    print(f"share discharged within 24 h: {measures.share_within_24h:.1%}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
