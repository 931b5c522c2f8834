"""An adapter's store loaded with cases, for the read API, the FHIR searches and the dashboard.

The example case arrives as a real message through the pipeline (examples/bundles); its later
steps, and the stays that give the charts their numbers, are appended to the event log as process
events and replayed, as the store itself rebuilds a case.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import orjson

from adapter.config import PROJECT_ROOT
from adapter.process.case import DischargeCase
from adapter.process.events import Event, Utskrivningsklar
from adapter.rules_config import RULES_FILE
from adapter.runtime import Runtime
from tests.support.examples import load_example
from tests.support.lus_story import SV, Story, when

EXAMPLE_CASE = "SU-2026-000123"
# The clock the tests read the adapter at: the example patient has been utskrivningsklar since
# Wednesday morning; the kallelse till SIP is due by the end of Saturday 28 November.
NOW = when("2026-11-26 12:00")
KALLELSE_DUE = "2026-11-29 00:00"


def with_rules(config_dir: Path) -> Path:
    """The example regional rules beside a test routing table."""
    shutil.copy(PROJECT_ROOT / "examples" / "config" / RULES_FILE, config_dir / RULES_FILE)
    return config_dir


def append(runtime: Runtime, events: list[Event], at: datetime) -> DischargeCase:
    """Events added to a case's log (opening it if new) and the case replayed, in one transaction."""
    store = runtime.store
    with store.transaction() as conn:
        case = store.load_case(conn, events[0].case_id)
        created = case is None
        for event in events:
            case = DischargeCase.open(event) if case is None else case.with_event(event)
        assert case is not None
        store.save_case(conn, case, events, at.timestamp(), created=created)
    return case


def example_case(runtime: Runtime) -> DischargeCase:
    """The example inskrivningsmeddelande through the pipeline, then utskrivningsklar."""
    bundle = load_example("inskrivningsmeddelande.json")
    result = runtime.pipeline.process_message(orjson.dumps(bundle))
    assert result.status == 200, result.body
    ready = Utskrivningsklar(
        message_id="example-utskrivningsklar",
        case_id=EXAMPLE_CASE,
        occurred_at=when("2026-11-25 09:30"),
        sender=SV,
    )
    return append(runtime, [ready], when("2026-11-25 09:31"))


def finished_stays(runtime: Runtime) -> None:
    """Stays discharged in the weeks before NOW (for the charts), and one with an overdue kallelse."""
    stays = [
        # Week 46: ready Monday, home the same evening (within 24 h).
        Story("2026-11-09 08:00", case_id="stay-a")
        .klar("2026-11-09 08:00")
        .kallelse("2026-11-09 10:00")
        .ut("2026-11-09 18:00"),
        # Week 46: five days from ready to home: the municipality pays from day 4.
        Story("2026-11-10 08:00", case_id="stay-b", personnummer="195009072553")
        .klar("2026-11-10 08:00")
        .kallelse("2026-11-11 09:00")
        .ut("2026-11-15 11:00"),
        # Week 47: within 24 h.
        Story("2026-11-17 09:00", case_id="stay-c", personnummer="196101182803")
        .klar("2026-11-17 09:00")
        .kallelse("2026-11-17 11:00")
        .ut("2026-11-18 08:00"),
        # Ready since Friday 20 November, no kallelse sent: overdue since Tuesday 24 November.
        Story("2026-11-20 10:00", case_id="stay-d", personnummer="199002222397").klar("2026-11-20 10:00"),
    ]
    for story in stays:
        for event in story.events:
            append(runtime, [event], event.occurred_at)


def load_holdings(runtime: Runtime) -> None:
    example_case(runtime)
    finished_stays(runtime)
    runtime.pipeline.clock = NOW.timestamp
