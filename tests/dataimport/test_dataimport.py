"""`lus-adapter import`: 1 000 cases from another system's export, killed half-way and resumed,
end with every case exactly once; dry run stores nothing; rejections are summarised with why."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, func, inspect, select

from adapter.dataimport import Journal, Unit, run_import
from adapter.store import schema
from tests.support.examples import EXAMPLES, load_example, write_routing
from tests.support.parties import KOMMUN, SELF, TEST_PERSONNUMMER, VARDCENTRAL


def stay(n: int, template: dict[str, Any]) -> dict[str, Any]:
    """The example admission notice as case MIG-n, with its own message and Bundle ids."""
    bundle = copy.deepcopy(template)
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = f"lifecare-export-{n:05d}"
    bundle["entry"][1]["resource"]["identifier"][0]["value"] = f"MIG-{n:05d}"
    bundle["entry"][2]["resource"]["identifier"][0]["value"] = TEST_PERSONNUMMER[n % len(TEST_PERSONNUMMER)]
    return bundle


def write_export(path: Path, cases: int, *, broken: dict[int, bytes] | None = None) -> Path:
    template = load_example("inskrivningsmeddelande.json")
    with path.open("wb") as out:
        for n in range(cases):
            out.write((broken or {}).get(n) or orjson.dumps(stay(n, template)))
            out.write(b"\n")
    return path


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.cases, schema.events, schema.inbox)
            }
            counts["distinct cases"] = conn.execute(
                select(func.count(func.distinct(schema.events.c.case_id)))
            ).scalar_one()
        return counts
    finally:
        engine.dispose()


def lus_adapter(tmp_path: Path, database_url: str, *args: str) -> subprocess.Popen[bytes]:
    config = write_routing(
        tmp_path / "config", {p: "http://127.0.0.1:9/none" for p in (SELF, KOMMUN, VARDCENTRAL)}
    )
    env = {**os.environ, "LUS_DATABASE_URL": database_url, "LUS_CONFIG_DIR": str(config), "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "adapter", "import", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def journal_lines(tmp_path: Path) -> int:
    found = list((tmp_path / "var" / "import").glob("*.ndjson"))
    return len(found[0].read_bytes().splitlines()) if found else 0


@pytest.mark.slow
@pytest.mark.system
def test_1000_cases_killed_half_way_and_resumed_end_with_every_case_once(
    tmp_path: Path, database_url: str
) -> None:
    export = write_export(tmp_path / "export.ndjson", 1000)
    started = time.monotonic()
    first = lus_adapter(tmp_path, database_url, str(export), "--send")
    while journal_lines(tmp_path) < 500:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() - started < 60, "the import made no headway"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # no clean-up at all: the harshest interruption
    first.wait(timeout=10)
    halfway = table_counts(database_url)
    assert 500 <= halfway["cases"] < 1000, halfway

    second = lus_adapter(tmp_path, database_url, str(export), "--send")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    summary = out.decode()
    assert "Import summary" in summary

    assert table_counts(database_url) == {
        "cases": 1000,
        "events": 1000,
        "inbox": 1000,
        "distinct cases": 1000,
    }
    engine = create_engine(database_url)
    with engine.connect() as conn:
        ids = sorted(r.case_id for r in conn.execute(select(schema.cases.c.case_id)))
        outbox = conn.execute(select(func.count()).select_from(schema.outbox)).scalar_one()
    engine.dispose()
    assert ids == [f"MIG-{n:05d}" for n in range(1000)]
    assert outbox == 2000  # --send: the kommun and the vårdcentral of each case, once each

    # The resumed run skipped what the first had journalled and did the rest; a Bundle stored but
    # not yet journalled when the kill came is answered as a duplicate, not imported again.
    resumed = _figure(summary, "handled by an earlier run")
    now, again = _figure(summary, "imported now"), _figure(summary, "already in the store")
    assert resumed >= 500 and resumed + now + again == 1000 and again <= 1
    assert now == 1000 - halfway["cases"]


def _figure(summary: str, label: str) -> int:
    line = next(line for line in summary.splitlines() if label in line)
    return int(line.split("│")[-2].strip())


def test_by_default_history_is_loaded_not_sent_and_the_summary_counts_closed_cases(
    tmp_path: Path, database_url: str
) -> None:
    # A whole case that ended in discharge (examples/bundles/canonical/) and two that are open.
    export = tmp_path / "export"
    export.mkdir()
    for step in sorted((EXAMPLES / "bundles" / "canonical").glob("*.json")):
        (export / f"a-{step.name}").write_bytes(step.read_bytes())
    write_export(export / "b-open.ndjson", 2)
    run = lus_adapter(tmp_path, database_url, str(export))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err.decode()
    summary = out.decode()
    assert _figure(summary, "imported now") == 15
    assert "Cases imported now: 2 open, 1 closed" in summary and "not sent to anyone" in summary
    engine = create_engine(database_url)
    with engine.connect() as conn:
        outbox = conn.execute(select(func.count()).select_from(schema.outbox)).scalar_one()
        states = dict(conn.execute(select(schema.cases.c.case_id, schema.cases.c.state)).all())
    engine.dispose()
    assert outbox == 0  # the other parties had these messages from the earlier system
    assert sorted(states.values()) == ["inskriven", "inskriven", "utskriven"]


def test_dry_run_stores_nothing_and_says_what_would_be_rejected(tmp_path: Path, database_url: str) -> None:
    template = load_example("inskrivningsmeddelande.json")
    bad_pnr = stay(3, template)
    bad_pnr["entry"][2]["resource"]["identifier"][0]["value"] = "191212121213"
    export = write_export(tmp_path / "export.ndjson", 6, broken={3: orjson.dumps(bad_pnr), 5: b"{not json"})
    run = lus_adapter(tmp_path, database_url, str(export), "--dry-run", "--report", "rejected.json")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, err.decode()  # something would be rejected
    summary = out.decode()
    assert "dry run: nothing stored" in summary
    assert _figure(summary, "imported now") == 4
    assert "export.ndjson:4" in summary and "export.ndjson:6" in summary
    report = orjson.loads((tmp_path / "rejected.json").read_bytes())
    assert [(r["where"], r["status"]) for r in report] == [("export.ndjson:4", 422), ("export.ndjson:6", 400)]
    assert any(i["rule"] and "personnummer" in i["rule"] for i in report[0]["issues"])
    assert not (tmp_path / "var" / "import").exists()  # no checkpoint either
    engine = create_engine(database_url)
    assert not inspect(engine).has_table("cases")  # not even the schema was created
    engine.dispose()


def test_a_rejected_line_fixed_in_the_export_is_handled_again(tmp_path: Path) -> None:
    template = load_example("inskrivningsmeddelande.json")
    bundles = [stay(n, template) for n in range(3)]
    export = tmp_path / "export"
    export.mkdir()
    good = orjson.dumps(bundles[1])
    (export / "a.ndjson").write_bytes(orjson.dumps(bundles[0]) + b"\n" + b"garbage\n")
    (export / "b.json").write_bytes(orjson.dumps(bundles[2]))
    handled: list[bytes] = []

    def process(raw: bytes) -> tuple[int, bytes, bool]:
        handled.append(raw)
        if raw == b"garbage":
            return 400, orjson.dumps({"issue": [{"severity": "error", "diagnostics": "not JSON"}]}), False
        return 200, b"{}", False

    journal = Journal(tmp_path / "journal.ndjson")
    first = run_import(export, process, journal)
    assert (first.accepted, [r.where for r in first.rejected]) == (2, ["a.ndjson:2"])
    (export / "a.ndjson").write_bytes(orjson.dumps(bundles[0]) + b"\n" + good + b"\n")
    handled.clear()
    second = run_import(export, process, journal)
    assert handled == [good]  # only the fixed line
    assert (second.resumed, second.accepted, second.rejected) == (2, 1, [])


def test_an_interrupted_run_journals_what_it_did_and_the_next_goes_on(tmp_path: Path) -> None:
    export = write_export(tmp_path / "export.ndjson", 10)
    stored: list[str] = []

    def interrupted_at_seven(raw: bytes) -> tuple[int, bytes, bool]:
        if len(stored) == 7:
            raise KeyboardInterrupt
        stored.append(orjson.loads(raw)["entry"][0]["resource"]["id"])
        return 200, b"{}", False

    journal = Journal(tmp_path / "journal.ndjson")
    with pytest.raises(KeyboardInterrupt):
        run_import(export, interrupted_at_seven, journal)
    assert [r["unit"] for r in journal.read().values()] == [f"export.ndjson:{n}" for n in range(1, 8)]

    def rest(raw: bytes) -> tuple[int, bytes, bool]:
        stored.append(orjson.loads(raw)["entry"][0]["resource"]["id"])
        return 200, b"{}", False

    summary = run_import(export, rest, journal)
    assert (summary.resumed, summary.accepted) == (7, 3)
    assert stored == [f"lifecare-export-{n:05d}" for n in range(10)]
    assert Unit("x", 1, b"a").digest != Unit("x", 1, b"b").digest
