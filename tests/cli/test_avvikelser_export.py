"""Avvikelser per party and month: `lus-adapter avvikelser` and GET /admin/avvikelser over a store
(SQLite, and PostgreSQL when configured), in JSON and CSV, audited, with no patient identity."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app
from adapter.config import PROJECT_ROOT
from adapter.runtime import Runtime
from adapter.security.audit import AuditQuery, audit_log
from adapter.store.store import Store
from tests.support.avvikelser_story import Case, K
from tests.support.lus_story import SV, VC

EXAMPLE_CONFIG = PROJECT_ROOT / "examples" / "config"


def _cases() -> list[Case]:
    # a: admitted Fri 30 Jan 2026 10:00, m1 sent Sat 31 11:00 (due 10:00): SV, 2026-01.
    a = Case("2026-01-30 10:00", case_id="a", needs_both=False).sent_at("2026-01-31 11:00")
    # b: ready Mon 2 Feb 10:00, no kallelse by Fri 6 00:00: VC, 2026-02 (fast vårdkontakt named).
    b = Case("2026-01-31 10:00", case_id="b").fvk("2026-01-31 14:00").klar("2026-02-02 10:00")
    # c: the kommun never acknowledges the notice of Tue 3 Feb (m2): K, 2026-02.
    c = Case("2026-02-01 10:00", case_id="c", needs_both=False).klar("2026-02-03 10:00")
    c.unacked.add("m2")
    # d: nor the admission notice of Tue 10 Feb 12:00 (m1) and the notice of Wed 11 (m2): K, 2026-02 twice.
    d = Case("2026-02-10 10:00", case_id="d", needs_both=False).klar("2026-02-11 10:00")
    d.unacked.update({"m1", "m2"})
    # e: discharged Mon 16 Mar 15:00, the utskrivningsmeddelande (m3) sent Tue 17 08:00: SV, 2026-03.
    e = Case("2026-03-12 10:00", case_id="e", needs_both=False).klar("2026-03-16 09:00")
    e.ut("2026-03-16 15:00", sent="2026-03-17 08:00")
    # f: late admission notice in July: outside the period.
    f = Case("2026-07-01 10:00", case_id="f", needs_both=False).sent_at("2026-07-02 12:00")
    # g: late, but its admission notice made void: no case.
    g = Case("2026-02-01 10:00", case_id="g", needs_both=False).sent_at("2026-02-02 12:00")
    g.void("2026-02-02 13:00", "m1", SV)
    return [a, b, c, d, e, f, g]


# Worked by hand from the comments above: (party, kind, month) → {rule: count}.
EXPECTED = {
    (SV, "SV", "2026-01"): {"inskrivningsmeddelande-sent": 1},
    (VC, "OV", "2026-02"): {"kallelse-sip-saknas": 1},
    (K, "K", "2026-02"): {"kvittens-saknas": 3},
    (SV, "SV", "2026-03"): {"utskrivningsmeddelande-sent": 1},
}


def _config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("lus-rules.yaml", "lus-steps.yaml"):
        shutil.copy(EXAMPLE_CONFIG / name, folder / name)
    if not (folder / "parties.yaml").exists():
        shutil.copy(EXAMPLE_CONFIG / "parties.yaml", folder / "parties.yaml")
    return folder


def _fill(store: Store) -> None:
    for story in _cases():
        case = story.case()
        with store.transaction() as conn:
            store.save_case(conn, case, list(case.events), 0.0, created=True)


@pytest.fixture
def stored(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    store = Store.from_url(database_url)
    _fill(store)
    store.engine.dispose()
    monkeypatch.setenv("LUS_DATABASE_URL", database_url)
    monkeypatch.setenv("LUS_CONFIG_DIR", str(_config(tmp_path / "config")))
    return database_url


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["avvikelser", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _per_party_month(document: dict[str, object]) -> dict[tuple[str, str, str], dict[str, int]]:
    rows = document["by_party_month"]
    assert isinstance(rows, list)
    for row in rows:
        assert row["total"] == sum(row["by_rule"].values())
    return {(r["party"], r["party_kind"], r["month"]): r["by_rule"] for r in rows}


def _summary_csv(text: str) -> dict[tuple[str, str, str], dict[str, int]]:
    found: dict[tuple[str, str, str], dict[str, int]] = {}
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["party", "party_kind", "month", "rule", "count", "reported_by_hand"]
    for row in reader:
        found.setdefault((row["party"], row["party_kind"], row["month"]), {})[row["rule"]] = int(row["count"])
    return found


def test_json_export_counts_per_party_and_month(stored: str) -> None:
    text = _run("--from", "2026-01", "--to", "2026-06")
    document = orjson.loads(text)
    assert document["period"] == {"from": "2026-01", "to": "2026-06", "as_of": "2026-07-01T00:00:00+02:00"}
    assert document["thresholds"] == {
        "inskrivningsmeddelande_hours": 24.0,
        "kallelse_sip_days": 3,
        "kvittens_hours": 24.0,
    }
    assert _per_party_month(document) == EXPECTED
    kvittens = [d for d in document["deviations"] if d["rule"] == "kvittens-saknas"]
    assert sorted((d["case_id"], d["message_id"], d["due"]) for d in kvittens) == [
        ("c", "c-m2", "2026-02-04T10:00:00+01:00"),
        ("d", "d-m1", "2026-02-11T12:00:00+01:00"),
        ("d", "d-m2", "2026-02-12T10:00:00+01:00"),
    ]
    assert "191212121212" not in text and "Tolvan" not in text


def test_csv_export_summary_and_detail(stored: str) -> None:
    assert _summary_csv(_run("--from", "2026-01", "--to", "2026-06", "--format", "csv")) == EXPECTED
    detail = list(csv.DictReader(io.StringIO(_run("--from", "2026-02", "--format", "csv", "--detail"))))
    assert sorted((r["case_id"], r["rule"], r["party"]) for r in detail) == [
        ("b", "kallelse-sip-saknas", VC),
        ("c", "kvittens-saknas", K),
        ("d", "kvittens-saknas", K),
        ("d", "kvittens-saknas", K),
    ]
    assert {r["month"] for r in detail} == {"2026-02"}
    assert "191212121212" not in str(detail)


def test_the_export_is_audited_per_case_listed(stored: str) -> None:
    _run("--from", "2026-01", "--to", "2026-06")
    store = Store.from_url(stored)
    try:
        records = [r for r in audit_log(store, AuditQuery()).records if r.action == "read-avvikelser"]
    finally:
        store.engine.dispose()
    assert sorted(r.case_id or "" for r in records) == ["a", "b", "c", "d", "e"]
    assert all(r.party and r.party.startswith("cli:") for r in records)


def test_a_bad_month_or_format_is_refused(stored: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["avvikelser", "--from", "2026-13"]).exit_code == 2
    assert runner.invoke(app, ["avvikelser", "--from", "2026-03", "--to", "2026-01"]).exit_code == 2
    assert runner.invoke(app, ["avvikelser", "--from", "2026-03", "--format", "xml"]).exit_code == 2


# --- GET /admin/avvikelser ---


def test_admin_endpoint_json_and_csv(runtime: Runtime) -> None:
    _config(runtime.settings.config_dir)
    _fill(runtime.store)
    with TestClient(create_app(runtime=runtime)) as client:
        answer = client.get("/admin/avvikelser", params={"from": "2026-01", "to": "2026-06"})
        assert answer.status_code == 200, answer.text
        assert _per_party_month(answer.json()) == EXPECTED
        as_csv = client.get("/admin/avvikelser", params={"month": "2026-02", "format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert _summary_csv(as_csv.text) == {k: v for k, v in EXPECTED.items() if k[2] == "2026-02"}
        for bad in (
            {"month": "2026-2"},
            {},
            {"month": "2026-02", "from": "2026-01"},
            {"from": "2026-04", "to": "2026-01"},
            {"month": "0000-01"},
            {"month": "9999-12"},
        ):
            refused = client.get("/admin/avvikelser", params=bad)
            assert refused.status_code == 400, (bad, refused.text)
        assert client.get("/admin/avvikelser", params={"month": "2026-02", "format": "xml"}).status_code in (
            400,
            422,
        )
        # A party that is not this adapter's admin may not export.
        other = client.get("/admin/avvikelser", params={"month": "2026-02"}, headers={"x-lus-party": K})
        assert other.status_code == 403
    audited = [r for r in audit_log(runtime.store, AuditQuery()).records if r.action == "read-avvikelser"]
    assert sorted({r.case_id or "" for r in audited}) == ["a", "b", "c", "d", "e"]
