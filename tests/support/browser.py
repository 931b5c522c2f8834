"""Headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, as the browser
system tests use it (the fixtures are in tests/system/conftest.py), and where their screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

from adapter.config import PROJECT_ROOT

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


# Screenshots go to test-artifacts/, or where LUS_SCREENSHOT_DIR says (docs/screenshots/ holds
# the committed ones: `LUS_SCREENSHOT_DIR=docs/screenshots pytest tests/system/test_dashboard_browser.py`).
SHOTS = Path(os.environ.get("LUS_SCREENSHOT_DIR", ARTIFACTS))
WIDE, PHONE = 1400, 400


def at_width(driver: object, width: int, height: int = 1000) -> None:
    """The viewport of a screen `width` CSS pixels wide (a phone below 600)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
