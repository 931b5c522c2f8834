"""The dashboard in a real browser: headless Chromium, driven through chromedriver by selenium,
opens the page of an adapter served by uvicorn on loopback and loaded with the replayed example
case, and reads what is rendered. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.app import build_runtime
from adapter.config import PROJECT_ROOT, Settings
from tests.conftest import KOMMUN, SELF, VARDCENTRAL, write_routing
from tests.holdings_seed import EXAMPLE_CASE, load_holdings, with_rules
from tests.live_server import serving
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
