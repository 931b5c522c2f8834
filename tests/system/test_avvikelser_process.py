"""As deployed: `lus-adapter serve` as a process takes the example case over HTTP; then
GET /admin/avvikelser on it, and `lus-adapter avvikelser` as a process against the same store
(PostgreSQL when LUS_TEST_POSTGRES_DSN is set, else SQLite)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.avvikelser_story import hand_report
from tests.support.examples import EXAMPLES
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import FHIR, AdapterProcess

STEPS = sorted((EXAMPLES / "bundles" / "canonical").glob("*.json"))
SV = "TSTNMT2321000156-SV41"
K = "TSTNMT2321000156-K1480"
CASE = "SU-2026-000123"
HSA = "urn:oid:1.2.752.29.4.19"
AVVIKELSE = "https://lus-adapter.org/fhir/CodeSystem/avvikelse"

# The example case seen at the hospital unit's adapter (its own party is SV41), worked by hand:
# - the kommun acknowledges none of the unit's messages it receives within 24 h: the
#   inskrivningsmeddelande (23 Nov 09:02), planeringsunderlag (24 Nov 10:00), utskrivningsklar
#   (25 Nov 09:30), the makulering (26 Nov 11:20) of the ändrat datum (void: owes none) and the
#   utskrivningsmeddelande (27 Nov 14:05): 4 × kvittens-saknas for K. The kommun's kvittens of
#   step 10 (26 Nov 09:05) names the kommun's copy of the planeringsunderlag (24 Nov 10:00), which
#   resolves to it at this adapter: 1 × kvittens-sen for K. The vårdcentral's kallelse and bookings
#   are not judged here: their kvittens travels to the vårdcentral, not to this adapter.
# - the unit's planeringsunderlag says new social services, and the kommun sent no plan of its
#   own before the discharge 27 Nov 14:00: 1 × utskriven-innan-kommunen-redo for SV.
# - on time: inskrivningsmeddelande 47 min after admission, kallelse the day of utskrivningsklar,
#   utskrivningsmeddelande the day of discharge; fast vårdkontakt named 23 Nov.
# - the kommun's report by hand (28 Nov) of the same deviation: a second one for SV, by hand.
EXPECTED = {
    (K, "K", "2026-11", "kvittens-saknas"): 4,
    (K, "K", "2026-11", "kvittens-sen"): 1,
    (SV, "SV", "2026-11", "utskriven-innan-kommunen-redo"): 2,
}


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
    if not dsn:
        yield f"sqlite:///{tmp_path / 'adapter.db'}"
        return
    with fresh_postgres_database(dsn) as url:
        yield url


def _sender(bundle: dict[str, Any]) -> str:
    reference = bundle["entry"][0]["resource"]["sender"]["reference"]
    [sender] = [e["resource"] for e in bundle["entry"] if e.get("fullUrl") == reference]
    return str(sender["identifier"][0]["value"])


def _counts(text: str) -> dict[tuple[str, str, str, str], int]:
    return {
        (r["party"], r["party_kind"], r["month"], r["rule"]): int(r["count"])
        for r in csv.DictReader(io.StringIO(text))
    }


def test_avvikelser_of_the_example_case_over_http_and_from_the_command_line(
    tmp_path: Path, store_url: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES / "config", config)
    env = {"LUS_DATABASE_URL": store_url, "LUS_CONFIG_DIR": str(config), "LUS_WORKER": "false"}
    adapter = AdapterProcess(env=env, log=tmp_path / "adapter.log").start()
    try:
        for step in STEPS:
            bundle = orjson.loads(step.read_bytes())
            answer = httpx.post(
                f"{adapter.base}/fhir/$process-message",
                content=step.read_bytes(),
                headers={**FHIR, "x-lus-party": _sender(bundle)},  # development mode: who is calling
                timeout=30,
            )
            assert answer.status_code == 200, (step.name, answer.text[:300])
        report = hand_report()
        answer = httpx.post(
            f"{adapter.base}/fhir/$process-message",
            content=orjson.dumps(report),
            headers={**FHIR, "x-lus-party": K},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text[:500]
        # Routed to the party it concerns only (the unit: here this adapter's own party's system).
        outbound = httpx.get(f"{adapter.base}/admin/cases/{CASE}/messages", timeout=30).json()["messages"]
        report_id = report["entry"][0]["resource"]["id"]
        assert [m["recipient"] for m in outbound if m["source_message_id"] == report_id] == [SV]
        over_http = httpx.get(
            f"{adapter.base}/admin/avvikelser", params={"month": "2026-11", "format": "csv"}, timeout=30
        )
        assert over_http.status_code == 200, over_http.text
        assert _counts(over_http.text) == EXPECTED
    finally:
        adapter.stop()
    command = [sys.executable, "-m", "adapter", "avvikelser", "--from", "2026-11", "--to", "2026-12"]
    run = subprocess.run(
        [*command, "--format", "json"], env={**os.environ, **env}, capture_output=True, timeout=120
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    document = orjson.loads(run.stdout)
    counts = {
        (r["party"], r["party_kind"], r["month"], rule): n
        for r in document["by_party_month"]
        for rule, n in r["by_rule"].items()
    }
    assert counts == EXPECTED
    assert {d["case_id"] for d in document["deviations"]} == {CASE}
    [by_hand] = [d for d in document["deviations"] if d["reported_by"]]
    assert (by_hand["reported_by"], by_hand["party"], by_hand["since"]) == (
        K,
        SV,
        "2026-11-28T10:00:00+01:00",
    )
    assert b"191212121212" not in run.stdout and b"Tolvan" not in run.stdout
