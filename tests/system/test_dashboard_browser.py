"""The dashboard in a real browser: headless Chromium, driven through chromedriver by selenium,
opens the page of an adapter served by uvicorn on loopback and loaded with the replayed example
case, and reads what is rendered. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import base64
import itertools
import math
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from adapter.config import Settings
from adapter.process.kalender import STOCKHOLM
from adapter.runtime import build_runtime
from tests.support.avvikelser_story import hand_report
from tests.support.browser import ARTIFACTS, PHONE, SHOTS, WIDE, at_width
from tests.support.examples import EXAMPLES, load_example, write_routing
from tests.support.holdings_seed import EXAMPLE_CASE, append, load_holdings, with_rules
from tests.support.live_server import serving
from tests.support.lus_story import Story
from tests.support.network import net
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.postgres import fresh_postgres_database
from tests.support.processes import AdapterProcess, free_port
from tests.support.tidbok_messages import schedule, slot

pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = with_rules(
        write_routing(
            tmp_path / "config",
            {p: "http://127.0.0.1:9/none" for p in (SELF, KOMMUN, VARDCENTRAL)},
            base_url=f"http://127.0.0.1:{port}/fhir",
        )
    )
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'lus.db'}", config_dir=config, worker=False)
    runtime = build_runtime(settings)
    load_holdings(runtime)
    with serving(runtime, port) as base:
        yield f"{base}/dashboard"
    runtime.store.engine.dispose()


def test_dashboard_shows_the_case_its_deadline_and_charts_with_data(
    browser: object, dashboard_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    browser.get(dashboard_url)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    assert browser.title == "Översikt – LUS-adapter"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
    row = browser.find_element(By.CSS_SELECTOR, f'#oppna-arenden tr[data-case="{EXAMPLE_CASE}"]')
    assert row.find_element(By.TAG_NAME, "th").text == EXAMPLE_CASE
    assert "Utskrivningsklar" in row.text
    deadline = row.find_element(By.CSS_SELECTOR, "td.next-deadline")
    assert "Kallelse till SIP senast 2026-11-29 00:00" in deadline.text
    assert deadline.find_element(By.CSS_SELECTOR, ".badge").text == "Öppen"
    assert deadline.find_element(By.TAG_NAME, "time").get_attribute("datetime") == "2026-11-29T00:00:00+01:00"

    overdue = browser.find_element(By.ID, "forsenade")
    assert "stay-d" in overdue.text and "Kallelse till SIP" in overdue.text and "Försenad" in overdue.text

    queue = {
        r.get_attribute("data-recipient"): r.find_elements(By.TAG_NAME, "td")[0].text
        for r in browser.find_elements(By.CSS_SELECTOR, "#leveranser tbody tr")
    }
    assert queue == {KOMMUN: "1", VARDCENTRAL: "1"}

    # The share-within-24h chart: weeks 46 and 47 have discharges (1 of 2, then 1 of 1).
    chart = browser.find_element(By.ID, "andel-inom-24h")
    svg = chart.find_element(By.CSS_SELECTOR, "svg[role='img']")
    assert svg.get_attribute("aria-labelledby")
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert sorted(float(b.get_attribute("data-value") or "nan") for b in bars) == [50.0, 100.0]
    assert all(b.size["height"] > 0 for b in bars)
    days = browser.find_elements(By.CSS_SELECTOR, "#dagar-till-utskrivning rect.bar")
    assert days, "the days-to-discharge chart has bars"
    liable = browser.find_elements(By.CSS_SELECTOR, "#betalningsansvar-per-kommun rect.bar")
    assert [b.get_attribute("data-value") for b in liable][-1] == "2.0"  # stay-b: 14 and 15 November

    row.find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Ärende {EXAMPLE_CASE}"
    timeline = browser.find_element(By.ID, "tidslinje").text
    assert "Meddelande ut" in timeline and "Göteborgs Stad, Biståndsenheten" in timeline
    browser.save_screenshot(str(ARTIFACTS / "dashboard-case.png"))


# --- reading well: numbers, words, charts, closed cases, a 404, a phone ---

ONE_DAY_CASE, DEAD_CASE = "stay-f", "stay-e"


@pytest.fixture
def more_url(tmp_path: Path) -> Iterator[str]:
    """The dashboard's stays and two more: one with a single liable day, discharged alone in its
    week after four days (0 % within 24 h), and one whose patient died with a kallelse still open."""
    port = free_port()
    config = with_rules(
        write_routing(
            tmp_path / "config",
            {p: "http://127.0.0.1:9/none" for p in (SELF, KOMMUN, VARDCENTRAL)},
            base_url=f"http://127.0.0.1:{port}/fhir",
        )
    )
    runtime = build_runtime(
        Settings(database_url=f"sqlite:///{tmp_path / 'lus.db'}", config_dir=config, worker=False)
    )
    load_holdings(runtime)
    stays = [
        # Week 45: ready Monday 08:00, home Friday: liable on the Friday only.
        Story("2026-11-02 08:00", case_id=ONE_DAY_CASE, personnummer="198507099805")
        .klar("2026-11-02 08:00")
        .kallelse("2026-11-02 10:00")
        .ut("2026-11-06 09:00"),
        # Ready Tuesday, died Wednesday: the kallelse due by the end of Friday is no longer owed.
        Story("2026-11-24 08:00", case_id=DEAD_CASE, personnummer="198507099813")
        .klar("2026-11-24 08:00")
        .dod("2026-11-25 10:00"),
    ]
    for story in stays:
        for event in story.events:
            append(runtime, [event], event.occurred_at)
    with serving(runtime, port) as base:
        yield base
    runtime.store.engine.dispose()


def screenshot(driver: object, width: int, name: str) -> None:
    """The whole page, as tall as it is, at `width`."""
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    at_width(driver, width, int(height))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))
    at_width(driver, width)


def text(element: object) -> str:
    return str(element.text).replace("\u00a0", " ")  # type: ignore[attr-defined]


def search_for(driver: object, case_id: str) -> None:
    """The search box's form submitted, and the page it leads to loaded: submit() returns before the
    browser has left the current page, which a loaded machine shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")  # type: ignore[attr-defined]
    search = driver.find_element(By.ID, "sok-arende")  # type: ignore[attr-defined]
    search.send_keys(case_id)
    search.submit()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(page))


def test_the_dashboard_reads_well_and_reaches_closed_cases(browser: object, more_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    at_width(browser, WIDE)
    browser.get(f"{more_url}/dashboard")

    # Axis ticks: 0 and then even, round steps (1, 2 or 5 × 10ⁿ) on every chart with data; one
    # without (no planning meetings in these stays) says so instead of drawing an empty axis.
    for chart in browser.find_elements(By.CSS_SELECTOR, "figure.chart-figure"):
        if chart.get_attribute("data-bars") == "0":
            assert "Inga data för perioden ännu." in chart.text, chart.get_attribute("id")
            continue
        labels = [t.text for t in chart.find_elements(By.CSS_SELECTOR, "text.y-tick")]
        values = [float(t.replace(",", ".").replace("\u00a0", "")) for t in labels]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(values)}
        assert values[0] == 0 and len(steps) == 1, (chart.get_attribute("id"), labels)
        [step] = steps
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in (1, 2, 5), (chart.get_attribute("id"), labels)

    # Week 45 had one discharge, not within 24 h: a visible bar at 0 %, unlike the weeks without any.
    share = browser.find_element(By.ID, "andel-inom-24h")
    zero = share.find_element(By.CSS_SELECTOR, 'rect.bar[data-value="0.0"]')
    assert zero.size["height"] > 0 and zero.find_element(By.TAG_NAME, "title").get_attribute(
        "textContent"
    ) == ("v. 45, Andel inom 24 h: 0\u00a0%")
    assert [t.text for t in share.find_elements(By.CSS_SELECTOR, "text.zero")] == ["0"]  # labelled, too
    gaps = share.find_elements(By.CSS_SELECTOR, "text.no-data")
    assert len(gaps) == 9 and len(share.find_elements(By.CSS_SELECTOR, "rect.bar")) == 3  # 12 weeks
    assert "inga data" in gaps[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert "inga data" in text(share.find_element(By.CSS_SELECTOR, ".legend"))

    # Case ids stay on one line; the liable days say "dagar" in agreement with the number.
    for link in browser.find_elements(By.CSS_SELECTOR, "th.case-id a"):
        assert browser.execute_script("return arguments[0].getClientRects().length", link) == 1, link.text
    open_rows = {
        r.get_attribute("data-case"): r
        for r in browser.find_elements(By.CSS_SELECTOR, "#oppna-arenden tbody tr")
    }
    assert DEAD_CASE not in open_rows and DEAD_CASE not in text(browser.find_element(By.ID, "forsenade"))
    assert text(open_rows[EXAMPLE_CASE].find_elements(By.TAG_NAME, "td")[-1]) == "0 dagar"
    assert browser.find_element(By.ID, "sok-arende").get_attribute("type") == "search"
    screenshot(browser, WIDE, "dashboard")

    # A closed case, by its id in the search box: its ready time, one liable day, 9 300 kr.
    search_for(browser, ONE_DAY_CASE)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Ärende {ONE_DAY_CASE}"
    facts = {
        dt.text: text(dd)
        for dt, dd in zip(
            browser.find_elements(By.CSS_SELECTOR, "#arende dt"),
            browser.find_elements(By.CSS_SELECTOR, "#arende dd"),
            strict=True,
        )
    }
    assert facts["Status"] == "Utskriven"
    assert facts["Utskrivningsklar"] == "2026-11-02 08:00" and facts["Utskriven"] == "2026-11-06 09:00"
    assert text(browser.find_element(By.ID, "betalningsansvar")).startswith("1 dag, 9 300 kr")
    rows = browser.find_elements(By.CSS_SELECTOR, "#tidslinje tbody tr")
    assert {r.get_attribute("data-type") for r in rows} >= {"meddelande-in", "tidsgrans", "betalningsansvar"}
    for row in rows:
        assert row.find_element(By.CSS_SELECTOR, "td.vad").text.strip(), row.text
    liable = next(r for r in rows if r.get_attribute("data-type") == "betalningsansvar")
    assert "2026-11-06 – 2026-11-06: 1 dag, 9 300 kr" in text(liable)
    screenshot(browser, WIDE, "dashboard-closed-case")

    # The example case's page: deliveries name what was delivered; no "Vad" is empty.
    browser.get(f"{more_url}/dashboard/arenden/{EXAMPLE_CASE}")
    for row in browser.find_elements(By.CSS_SELECTOR, "#tidslinje tbody tr"):
        assert row.find_element(By.CSS_SELECTOR, "td.vad").text.strip(), row.text
    screenshot(browser, WIDE, "dashboard-case")

    # The patient who died: no deadline left open, none to show as next.
    browser.get(f"{more_url}/dashboard/arenden/{DEAD_CASE}")
    assert text(browser.find_element(By.CSS_SELECTOR, "dd.next-deadline")) == "Ingen öppen tidsgräns"
    kinds = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#tidsgranser tbody th")]
    assert kinds == ["Inskrivningsmeddelande"]

    # An unknown case: a page in the dashboard's own look, with a 404.
    search_for(browser, "finns-inte-2026")
    assert browser.title == "Ärendet finns inte – LUS-adapter"
    assert "finns-inte-2026" in browser.find_element(By.ID, "saknas").text
    reply = httpx.get(f"{more_url}/dashboard/arenden/finns-inte-2026")
    assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")


def test_the_dashboard_fits_a_phone(browser: object, more_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    at_width(browser, PHONE)
    for page, name in (
        (f"{more_url}/dashboard", "dashboard"),
        (f"{more_url}/dashboard/arenden/{EXAMPLE_CASE}", "dashboard-case"),
    ):
        browser.get(page)
        assert browser.execute_script("return window.innerWidth") == PHONE
        widest = browser.execute_script("return document.documentElement.scrollWidth")
        assert widest <= PHONE, f"{name} is {widest} px wide on a {PHONE} px screen"
        # Every table row is a card: its cells stacked, each named by its column.
        for table in browser.find_elements(By.CSS_SELECTOR, "table.cards"):
            cell = table.find_element(By.CSS_SELECTOR, "tbody td[data-label]")
            assert cell.value_of_css_property("display") == "block"
            label = browser.execute_script("return getComputedStyle(arguments[0], '::before').content", cell)
            assert cell.get_attribute("data-label") in label
        screenshot(browser, PHONE, name)
    search = browser.find_element(By.ID, "sok-arende")
    assert search.size["width"] <= PHONE and search.is_displayed()


# --- planning together, as deployed: `lus-adapter serve` as a process, data through its API ---

# The example case moved by whole weeks so that it lies in the week before this one (its Monday,
# 23 November 2026, becomes last week's): the charts read the adapter at its own clock.
EXAMPLE_MONDAY = date(2026, 11, 23)
STEPS = [p.name for p in sorted((EXAMPLES / "bundles" / "canonical").glob("0[1-7]-*.json"))]
MONTH_NAMES = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
_INSTANT = re.compile(r"(20[2-9]\d-\d\d-\d\d)(T\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z))?")


def moved(data: Any, days: int) -> Any:
    """Every date and dateTime of the example (not a birth date: those are before 2020) `days` later."""
    if isinstance(data, dict):
        return {k: moved(v, days) for k, v in data.items()}
    if isinstance(data, list):
        return [moved(v, days) for v in data]
    if isinstance(data, str) and (found := _INSTANT.fullmatch(data)):
        day = (date.fromisoformat(found[1]) + timedelta(days=days)).isoformat()
        return day + (found[2] or "")
    return data


@pytest.fixture
def served(tmp_path: Path) -> Iterator[AdapterProcess]:
    """`lus-adapter serve` for the hospital unit (the examples' configuration, its unit's site
    named Halmstad), on PostgreSQL when LUS_TEST_POSTGRES_DSN is set, else SQLite."""
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES / "config", config)
    parties = yaml.safe_load((config / "parties.yaml").read_text(encoding="utf-8"))
    next(p for p in parties["parties"] if p["hsa_id"] == SELF)["site"] = "Halmstad"
    (config / "parties.yaml").write_text(yaml.safe_dump(parties, allow_unicode=True), encoding="utf-8")
    with ExitStack() as stack:
        dsn = os.environ.get("LUS_TEST_POSTGRES_DSN")
        url = stack.enter_context(fresh_postgres_database(dsn)) if dsn else f"sqlite:///{tmp_path / 'lus.db'}"
        env = {"LUS_DATABASE_URL": url, "LUS_CONFIG_DIR": str(config), "LUS_WORKER": "false"}
        adapter = AdapterProcess(env=env, log=tmp_path / "adapter.log").start()
        stack.callback(adapter.stop)
        yield adapter


def test_the_charts_of_planning_together_as_deployed(browser: object, served: AdapterProcess) -> None:
    """Through the served API: the unit publishes four slots for the meeting's week; the example
    case arrives step by step from each party's system; the vårdcentral books the SIP-möte into the
    unit's 10:00 and rebooks it into its 13:00; the kommun reports a deviation by hand. Worked by
    hand, in the week before this one: 1 planning meeting at Halmstad; utskrivningsklar Wed 09:30 to
    the meeting Thu 13:00 = 27.5 h = 1.15 days; 1 of the 4 slots booked = 25 %; the avvikelser per
    party and month are those of the export."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    base = served.base
    today = datetime.now(STOCKHOLM).date()
    last_monday = today - timedelta(days=today.weekday() + 7)
    shift = (last_monday - EXAMPLE_MONDAY).days
    week = f"v. {last_monday.isocalendar().week}"

    def post(path: str, body: dict[str, Any], party: str) -> httpx.Response:
        reply = httpx.post(
            f"{base}{path}",
            content=orjson.dumps(body),
            headers={"Content-Type": "application/fhir+json", "x-lus-party": party},  # development mode
            timeout=30,
        )
        assert reply.status_code in (200, 201), (path, reply.text[:500])
        return reply

    schedule_id = post("/fhir/Schedule", schedule(SELF), SELF).json()["id"]
    slot_urls = [
        post(
            "/fhir/Slot",
            moved(
                slot(schedule_id, f"2026-11-{day}T{hour}:00:00+01:00", f"2026-11-{day}T{hour}:45:00+01:00"),
                shift,
            ),
            SELF,
        ).headers["Location"]
        for day, hour in (("26", "10"), ("26", "13"), ("26", "15"), ("27", "10"))
    ]
    for step in STEPS:
        bundle = moved(load_example(f"canonical/{step}"), shift)
        appointment = next(
            (e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment"), None
        )
        if step.startswith(("06-", "07-")):  # booked into the unit's 10:00, rebooked into its 13:00
            url = slot_urls[0] if step.startswith("06-") else slot_urls[1]
            assert appointment is not None
            appointment["slot"] = [
                {"type": "Slot", "identifier": {"system": "urn:ietf:rfc:3986", "value": url}}
            ]
        post("/fhir/$process-message", bundle, net.sender_of(bundle))
    post("/fhir/$process-message", moved(hand_report(), shift), KOMMUN)

    browser.get(f"{base}/dashboard")
    section = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='rubrik-planering']")
    assert section.find_element(By.TAG_NAME, "h2").text == "Planering tillsammans"

    def bars(chart_id: str) -> dict[str, float]:
        """Each bar's accessible name (its week or month, series and value in words) → its value."""
        chart = section.find_element(By.ID, chart_id)
        svg = chart.find_element(By.CSS_SELECTOR, "svg[role='img']")
        titles = svg.get_attribute("aria-labelledby").split()
        named = [svg.find_element(By.ID, t).get_attribute("textContent") for t in titles]
        assert len(named) == 2 and all(named), (chart_id, named)  # its title and its description
        found = {}
        for bar in chart.find_elements(By.CSS_SELECTOR, "rect.bar"):
            assert bar.size["height"] > 0
            name = bar.find_element(By.TAG_NAME, "title").get_attribute("textContent").replace("\u00a0", " ")
            found[name] = float(bar.get_attribute("data-value") or "nan")
        return found

    meetings = bars("planeringsmoten-per-plats")
    assert meetings[f"{week}, Halmstad: 1 möte"] == 1.0
    assert sum(meetings.values()) == 1.0  # the other weeks: 0, drawn as low bars
    lead = bars("ledtid-till-planeringsmote")
    assert lead == {
        f"{week}, Median: 1,1 dagar": 1.15,
        f"{week}, 90:e percentil: 1,1 dagar": 1.15,
    }  # one decimal shown
    used = bars("andel-bokade-tider")
    assert used == {f"{week}, Sahlgrenska Universitetssjukhuset, Geriatrik avd 41: 25 %": 25.0}
    # The same numbers in the table under each chart, and as JSON.
    table = section.find_element(By.CSS_SELECTOR, "#andel-bokade-tider details table")
    assert "25" in table.get_attribute("textContent")
    charts = {c["id"]: c for c in httpx.get(f"{base}/dashboard/diagram", timeout=30).json()["charts"]}
    [share] = charts["andel-bokade-tider"]["series"]
    assert share["values"][charts["andel-bokade-tider"]["categories"].index(week)] == 25.0

    # Avvikelser per party and month: the export's totals (the kommun's report by hand included).
    meeting_day = last_monday + timedelta(days=3)
    month, label = meeting_day.strftime("%Y-%m"), f"{MONTH_NAMES[meeting_day.month - 1]} {meeting_day.year}"
    export = httpx.get(f"{base}/admin/avvikelser", params={"month": month}, timeout=30).json()
    totals = {row["party"]: row["total"] for row in export["by_party_month"] if row["month"] == month}
    assert totals.get(SELF, 0) >= 1, export  # the report by hand concerns the unit
    parties = yaml.safe_load((EXAMPLES / "config" / "parties.yaml").read_text(encoding="utf-8"))["parties"]
    names = {p["hsa_id"]: p["name"] for p in parties}
    deviations = charts["avvikelser-per-part"]
    at = deviations["categories"].index(label)
    assert {s["name"]: s["values"][at] for s in deviations["series"] if s["values"][at]} == {
        names.get(party, party): float(n) for party, n in totals.items()
    }
    shown = {k: v for k, v in bars("avvikelser-per-part").items() if k.startswith(label) and v}
    assert shown == {
        f"{label}, {names.get(p, p)}: {n} avvikelse{'' if n == 1 else 'r'}": float(n)
        for p, n in totals.items()
    }
    screenshot(browser, WIDE, "dashboard-planning")
