"""The phone page end to end in real headless Chromium against `serve --listen` (a real process).

Needs Debian's ``chromium`` and ``chromium-driver`` and selenium; skipped without them.
``RELAXPLAYER_SCREENSHOT=docs/remotes-page.png`` also saves the phone-size screenshot there.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.remotes.test_serve_remotes import Serve, free_port, get

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None, reason="needs chromium and chromium-driver"
    ),
]


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=DriverService(DRIVER))
    driver.execute_cdp_cmd(  # a phone in portrait: 390 x 844 CSS pixels
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        yield driver
    finally:
        driver.quit()


def test_page_plays_shows_progress_live_and_pauses(env: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    box = Serve(env, "--listen", f"127.0.0.1:{port}")
    try:
        box.expect(f"web: phone page on http://127.0.0.1:{port}/")
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 20)
        play = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-session="steps"]'))
        assert "Steps" in play.text
        assert browser.find_element(By.ID, "now-title").text == "Nothing playing"
        play.click()
        wait.until(lambda d: d.find_element(By.ID, "now-title").text == "Steps")
        first = browser.find_element(By.ID, "elapsed").text
        wait.until(lambda d: d.find_element(By.ID, "elapsed").text not in ("", first))
        # live updates, no reload: the remaining time counts down too
        remaining = browser.find_element(By.ID, "remaining").text
        wait.until(lambda d: d.find_element(By.ID, "remaining").text != remaining)
        assert browser.find_element(By.ID, "section").text.startswith("Arrive")
        browser.find_element(By.ID, "toggle").click()
        wait.until(
            lambda d: d.find_element(By.ID, "toggle").get_attribute("aria-label") == "Resume"
        )
        assert get(port, "/api/status")["state"] == "paused"
        assert browser.find_element(By.CSS_SELECTOR, "#toggle .i-play").is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, "#toggle .i-pause").is_displayed()
        shot = os.environ.get("RELAXPLAYER_SCREENSHOT")
        if shot:
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(shot)
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(20) == 0
    finally:
        box.close()
