"""The dashboard in a real browser: headless Chromium, driven through chromedriver by selenium,
opens the page of an adapter served by uvicorn on loopback and loaded with the replayed example
case, and reads what is rendered. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import base64
import itertools
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter.config import PROJECT_ROOT, Settings
from adapter.runtime import build_runtime
from tests.conftest import KOMMUN, SELF, VARDCENTRAL, write_routing
from tests.holdings_seed import EXAMPLE_CASE, append, load_holdings, with_rules
from tests.live_server import serving
from tests.lus_story import Story
from tests.processes import free_port

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,2200",
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium and chromium-driver, installed here when missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip("chromium is not installed and apt-get cannot install it here (needs root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
        )
        for step in steps:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                pytest.skip(f"installing chromium failed ({' '.join(step)}): {done.stderr.strip()[-300:]}")
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


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

# Screenshots go to test-artifacts/, or where LUS_SCREENSHOT_DIR says (docs/screenshots/ holds
# the committed ones: `LUS_SCREENSHOT_DIR=docs/screenshots pytest tests/test_dashboard_browser.py`).
SHOTS = Path(os.environ.get("LUS_SCREENSHOT_DIR", ARTIFACTS))
WIDE, PHONE = 1400, 400
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


def at_width(driver: object, width: int, height: int = 1000) -> None:
    """The viewport of a screen `width` CSS pixels wide (a phone below 600)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]


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


def test_the_dashboard_reads_well_and_reaches_closed_cases(browser: object, more_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    at_width(browser, WIDE)
    browser.get(f"{more_url}/dashboard")

    # Axis ticks: 0 and then even, round steps (1, 2 or 5 × 10ⁿ) on every chart.
    for chart in browser.find_elements(By.CSS_SELECTOR, "figure.chart-figure"):
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
    search = browser.find_element(By.ID, "sok-arende")
    search.send_keys(ONE_DAY_CASE)
    search.submit()
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
    search = browser.find_element(By.ID, "sok-arende")
    search.send_keys("finns-inte-2026")
    search.submit()
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
