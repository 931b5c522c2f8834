"""The guide in a real browser (headless Chromium, as tests/system/test_dashboard_browser.py drives it):
the process picture is drawn with an arrow per message, a step page reads at 1400 and 400 px
without a page wider than the screen. Screenshots go to test-artifacts/, or LUS_SCREENSHOT_DIR
(docs/screenshots/ holds the committed ones)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.config import Settings
from adapter.runtime import build_runtime
from tests.support.browser import PHONE, SHOTS, at_width
from tests.support.live_server import serving
from tests.support.processes import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def guide_url(tmp_path: Path) -> Iterator[str]:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'lus.db'}", worker=False))
    with serving(runtime, free_port()) as base:
        yield f"{base}/guide"
    runtime.store.engine.dispose()


def shot(driver: object, width: int, name: str, height: int | None = None) -> None:
    """The page at `width`: as tall as it is, or its first `height` pixels."""
    full = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    at_width(driver, width, int(min(full, height or full)))
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{name}-{width}.png").write_bytes(base64.b64decode(data["data"]))
    at_width(driver, width)


def test_the_process_picture_and_a_message_page_read_well(browser: object, guide_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    at_width(browser, 1000)
    browser.get(f"{guide_url}/processen.html")
    assert browser.title == "Processen – LUS implementationsguide"
    whole = browser.find_element(By.CSS_SELECTOR, "#canonical svg.sequence")
    lanes = [t.text for t in whole.find_elements(By.CSS_SELECTOR, ".lane text")]
    assert lanes == ["Sjukhuset", "Vårdcentralen", "Kommunen"]
    messages = whole.find_elements(By.CSS_SELECTOR, "a.message")
    assert len(messages) == 13 and messages[0].get_attribute("data-step") == "inskrivningsmeddelande"
    first = messages[0].find_elements(By.TAG_NAME, "line")
    assert len(first) == 2 and all(line.size["width"] > 100 for line in first)  # to OV and K
    shot(browser, 1000, "guide-processen")

    messages[0].find_element(By.TAG_NAME, "text").click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Inskrivningsmeddelande")
    facts = {
        dt.text: dd.text
        for dt, dd in zip(
            browser.find_elements(By.CSS_SELECTOR, "#vem dt"),
            browser.find_elements(By.CSS_SELECTOR, "#vem dd"),
            strict=True,
        )
    }
    assert facts["Avsändare"] == "sjukhusets enhet (slutenvården)"
    assert facts["Tidsgräns"] == "Senast 24 timmar efter inskrivningen."
    rows = browser.find_elements(By.CSS_SELECTOR, "table.profile tbody tr")
    assert len(rows) > 20
    at_width(browser, 1400)
    shot(browser, 1400, "guide-steg", height=1500)

    # What the adapter answers: ok, then each mistake with the issues the validator gives.
    answers = browser.find_elements(By.CSS_SELECTOR, "#svar article.answer")
    assert len(answers) >= 4
    for answer in answers:
        assert answer.find_elements(By.CSS_SELECTOR, "ul.issues .sev-error"), answer.text
    at_width(browser, 1200)
    height = browser.execute_script("return document.getElementById('svar').offsetHeight")
    at_width(browser, 1200, int(height))
    browser.execute_script("document.getElementById('svar').scrollIntoView()")
    data = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    (SHOTS / "guide-steg-svar-1200.png").write_bytes(base64.b64decode(data["data"]))

    at_width(browser, PHONE)
    browser.refresh()
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.execute_script("return window.innerWidth") == PHONE
    widest = browser.execute_script("return document.documentElement.scrollWidth")
    assert widest <= PHONE, f"the step page is {widest} px wide on a {PHONE} px screen"
    cell = browser.find_element(By.CSS_SELECTOR, "table.profile tbody td[data-label]:not(:empty)")
    assert cell.value_of_css_property("display") == "block"
    shot(browser, PHONE, "guide-steg", height=1600)
