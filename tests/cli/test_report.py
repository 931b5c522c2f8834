"""`lus-adapter report` over cases in the store (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.config import PROJECT_ROOT
from adapter.store.store import Store
from tests.support.lus_story import Story


def _stays() -> list[Story]:
    # Göteborg: day 0 Mon 7 Mar 2022, kallelse the same day; discharged Mon 14: 11–14 liable.
    a = Story("2022-03-07 10:00", case_id="a").klar("2022-03-07 10:00").kallelse("2022-03-07 11:00")
    a.ut("2022-03-14 10:00")
    # Göteborg: ready and discharged the same day: within 24 h, nothing liable.
    b = Story("2022-03-08 09:00", case_id="b").klar("2022-03-08 09:00").kallelse("2022-03-08 09:30")
    b.ut("2022-03-08 15:00")
    # Cancelled: counts nowhere.
    c = Story("2022-03-08 09:00", case_id="c")
    c.makulera("2022-03-08 10:00", c.last_id)
    return [a, b, c]


@pytest.fixture
def stored(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    store = Store.from_url(database_url)
    for story in _stays():
        case = story.case()
        with store.transaction() as conn:
            store.save_case(conn, case, list(case.events), 0.0, created=True)
    store.engine.dispose()
    monkeypatch.setenv("LUS_DATABASE_URL", database_url)
    monkeypatch.setenv("LUS_CONFIG_DIR", str(PROJECT_ROOT / "examples" / "config"))
    return database_url


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_report(stored: str) -> None:
    document = orjson.loads(_run("--from", "2022-03-01", "--to", "2022-03-31"))
    assert document["period"] == {
        "from": "2022-03-01",
        "to": "2022-03-31",
        "as_of": "2022-04-01T00:00:00+02:00",
    }
    assert document["agreement"] == "lagen"
    assert (document["discharged_after_utskrivningsklar"], document["discharged_within_24h"]) == (2, 1)
    assert document["share_discharged_within_24h"] == 0.5
    assert document["deadline_compliance"]["by_message_type"]["kallelse-sip"]["met"] == 2
    assert document["betalningsansvar"] == [
        {
            "municipality": "1480",
            "month": "2022-03",
            "discharged": 2,
            "ready_days": 7,
            "liable_days": 4,
            "amount_kr": 4 * 9300,
        }
    ]


def test_csv_report_under_another_agreement(stored: str) -> None:
    text = _run("--from", "2022-03-01", "--to", "2022-03-31", "--format", "csv", "--agreement", "stockholm")
    rows = list(csv.DictReader(io.StringIO(text)))
    values = {(r["measure"], r["dimension"], r["key"]): r["value"] for r in rows}
    assert values[("agreement", "", "")] == "stockholm"
    # Stockholm: notice Mon 7 before 12:00; days 7, 8 pass; Wed 9 – Mon 14 liable: 6 days.
    assert values[("betalningsansvar_liable_days", "municipality_month", "1480/2022-03")] == "6"
    assert values[("betalningsansvar_amount_kr", "municipality_month", "1480/2022-03")] == str(6 * 9300)
    assert values[("deadline_met", "by_message_type", "utskrivningsmeddelande")] == "2"


def test_a_bad_period_or_format_is_refused(stored: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["report", "--from", "2022-03-31", "--to", "2022-03-01"]).exit_code == 2
    assert (
        runner.invoke(
            app, ["report", "--from", "2022-03-01", "--to", "2022-03-31", "--format", "xml"]
        ).exit_code
        == 2
    )


def test_a_missing_rules_file_says_where(
    stored: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUS_CONFIG_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["report", "--from", "2022-03-01", "--to", "2022-03-31"])
    assert result.exit_code == 2 and "lus-rules.yaml" in result.output


def test_the_store_yields_every_case_in_batches(stored: str) -> None:
    store = Store.from_url(stored)
    try:
        cases = list(store.iter_cases(batch=2))
    finally:
        store.engine.dispose()
    assert [c.case_id for c in cases] == ["a", "b", "c"]
    assert cases[0] == _stays()[0].case()


def test_a_year_without_a_day_amount_is_an_error_that_says_what_to_add(stored: str, tmp_path: Path) -> None:
    rules = (PROJECT_ROOT / "examples" / "config" / "lus-rules.yaml").read_text(encoding="utf-8")
    (tmp_path / "lus-rules.yaml").write_text(
        rules.replace("  2019: 7800", "  2023: 7800").replace("  2020: 8200", "").replace("  2022: 9300", ""),
        encoding="utf-8",
    )
    result = CliRunner(env={"LUS_CONFIG_DIR": str(tmp_path)}).invoke(
        app, ["report", "--from", "2022-03-01", "--to", "2022-03-31"]
    )
    assert result.exit_code == 2 and "No day amount is configured for 2022" in result.output
