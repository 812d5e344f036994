"""The phone page end to end in real headless Chromium against `serve --listen` (a real process),
and a pause clicked on it measured at the virtual sound card.

Needs Debian's ``chromium`` and ``chromium-driver`` and selenium; skipped without them.
``RELAXPLAYER_SCREENSHOTS=docs`` also saves the phone-size screenshots there
(``remotes-page.png`` paused, ``remotes-page-breathing.png`` with the breathing guide).
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
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


def screenshot(browser, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save the page's top, phone size, into $RELAXPLAYER_SCREENSHOTS (docs/), if set."""
    folder = os.environ.get("RELAXPLAYER_SCREENSHOTS")
    if folder:
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(Path(folder) / name))


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
        screenshot(browser, "remotes-page.png")
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(20) == 0
    finally:
        box.close()


BREATHING = """\
title: Evening breath
steps:
  - section: Settle
  - breathe: box
    cycles: 6
  - pause: 5m
"""


def test_the_breathing_guide_and_the_sleep_timer_show_live(
    env: dict[str, str], browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config" / "sessions" / "breath.yaml").write_text(BREATHING)
    port = free_port()
    box = Serve(env, "--listen", f"127.0.0.1:{port}")
    try:
        box.expect(f"web: phone page on http://127.0.0.1:{port}/")
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-session="breath"]')).click()
        label = wait.until(lambda d: d.find_element(By.ID, "breath-label"))
        wait.until(lambda d: label.text == "inhale")
        wait.until(lambda d: label.text not in ("", "inhale"))  # the phases follow live
        assert browser.find_element(By.ID, "section").text.startswith("Settle")
        browser.find_element(By.CSS_SELECTOR, '[data-sleep="30"]').click()
        wait.until(lambda d: "left" in d.find_element(By.ID, "sleep-left").text)
        pressed = browser.find_element(By.CSS_SELECTOR, '[data-sleep="30"]')
        assert pressed.get_attribute("aria-pressed") == "true"
        assert get(port, "/api/status")["sleep_remaining"] > 29 * 60
        wait.until(lambda d: label.text == "inhale")
        screenshot(browser, "remotes-page-breathing.png")
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(20) == 0
    finally:
        box.close()


NOISE = "title: Noise\nbackground: {sound: pink-noise, volume: -20 dB}\nsteps:\n  - pause: 10m\n"
CARD_RATE = 44100
LOUD = 33  # |sample| from -60 dBFS up counts as sound; the pause ramps down to exact zeros
BUDGET = 0.300  # seconds from the click to silence at the card (issue 12)
PRESSES = 3  # the median of three pauses is held to the budget: one press is one sample
# When the page got the click, in ms since the epoch (capture phase: before the page's handler)
CLICK_TIME = """arguments[0].addEventListener("click", (e) => {
  window.clickedAt = performance.timeOrigin + e.timeStamp; }, {capture: true, once: true});"""


class Growth:
    """A thread that notes (wall-clock time, size) of the capture file every 2 ms.

    Wall-clock (``time.time``), because the click's time comes from the page
    (``performance.timeOrigin + event.timeStamp``), on the same clock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: list[tuple[float, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            self.marks.append((time.time(), self.path.stat().st_size))
            self._done.wait(0.002)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def written_by(self, position: int) -> float:
        """The first time the file was seen holding byte ``position``: no earlier than it was
        written, and later by at most one poll (plus any delay waking this thread)."""
        return next(t for t, size in self.marks if size >= position)


def _wait_bytes(path: Path, size: int) -> None:
    deadline = time.monotonic() + 20
    while path.stat().st_size < size:
        assert time.monotonic() < deadline, "the card stopped taking sound"
        time.sleep(0.01)


@pytest.mark.audio
def test_a_pause_on_the_page_is_silent_at_the_card_within_300_ms(  # type: ignore[no-untyped-def]
    env: dict[str, str], browser, tmp_path: Path
) -> None:
    """Click pause in the page while ``serve --output alsa`` plays pink noise through the
    virtual card; the card's capture must be silent within 300 ms of the click. Three
    pauses (each after a second of sound, resumed after a second of silence); their median
    is held to the budget, so that one press slowed by a busy machine is one sample, not
    the verdict (all three are printed; measured 180-230 ms on a loaded 2-core machine).

    How capture positions become wall time: the ALSA ``file`` plugin appends each sample to
    the capture as aplay hands it to the card, and the card takes them at its own pace, so
    a thread notes the capture's size every 2 ms; the last loud sample was written no later
    than the first note showing it (``Growth.written_by``, which can only err late). What
    aplay had queued then is still ahead of the listener: at most its ring buffer and the
    period it is writing (``1.25 * alsa.BUFFER_SECONDS``, 75 ms), added in full. The click's
    time is the page's own (the event's timestamp, on the wall clock; checked to lie between
    Selenium sending the click and its return), as a phone's tap would be: WebDriver's own
    round trip is no part of the press. Every error makes the figure larger, never smaller:
    a pass is a real pass. Sound is checked to be flowing right before the click and
    silence to last a full second after.
    """
    from relaxplayer.outputs import alsa

    capture = Path(env["AUDIO_CAPTURE"])
    (tmp_path / "config" / "sessions" / "noise.yaml").write_text(NOISE)
    port = free_port()
    box = Serve(env, "--listen", f"127.0.0.1:{port}", "--output", "alsa", "--rate", str(CARD_RATE))
    presses: list[tuple[int, int, float]] = []  # (capture from, to, clicked) per pause
    try:
        box.expect(f"web: phone page on http://127.0.0.1:{port}/")
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-session="noise"]')).click()
        wait.until(lambda d: d.find_element(By.ID, "now-title").text == "Noise")
        growth = Growth(capture)
        try:
            for _ in range(PRESSES):
                presses.append(_press_pause(browser, wait, capture))
        finally:
            growth.stop()
        box.send(signal.SIGTERM)
        assert box.proc.wait(20) == 0
    finally:
        box.close()
    data = capture.read_bytes()
    latencies = sorted(
        _silent_after(data, growth, begin, end, clicked) + 1.25 * alsa.BUFFER_SECONDS
        for begin, end, clicked in presses
    )
    shown = ", ".join(f"{x * 1000:.0f}" for x in latencies)
    print(f"pause: silent at the card {shown} ms after the click")
    assert latencies[len(latencies) // 2] <= BUDGET, f"silent {shown} ms after the clicks"


def _press_pause(browser, wait, capture: Path) -> tuple[int, int, float]:  # type: ignore[no-untyped-def]
    """A second of sound, click pause (timed by the page), 1.5 s of the card after the page
    shows it, resume: ``(capture from, capture to, click time)``."""
    begin = capture.stat().st_size // 4 * 4
    _wait_bytes(capture, begin + CARD_RATE * 4)
    toggle = browser.find_element(By.ID, "toggle")
    browser.execute_script(CLICK_TIME, toggle)
    sent = time.time()
    toggle.click()
    returned = time.time()
    clicked = browser.execute_script("return window.clickedAt") / 1000
    assert sent - 0.005 <= clicked <= returned + 0.005  # the same clock, give or take
    wait.until(lambda d: d.find_element(By.ID, "toggle").get_attribute("aria-label") == "Resume")
    # the page shows "paused" once the player is: its last sound may still be on the way
    end = capture.stat().st_size // 4 * 4 + CARD_RATE * 6
    _wait_bytes(capture, end)
    toggle.click()
    wait.until(lambda d: d.find_element(By.ID, "toggle").get_attribute("aria-label") == "Pause")
    return begin, end, clicked


def _silent_after(data: bytes, growth: Growth, begin: int, end: int, clicked: float) -> float:
    """Seconds from the click to when the last loud frame entered the card's path."""
    samples = np.frombuffer(data[begin:end], dtype="<i2").reshape(-1, 2)
    loud = np.abs(samples).max(axis=1) >= LOUD
    at_click = (max(s for t, s in growth.marks if t <= clicked) - begin) // 4
    tenth = CARD_RATE // 100  # 10 ms
    flowing = loud[at_click - 10 * tenth : at_click].reshape(-1, tenth)  # the 100 ms before
    assert len(flowing) == 10 and flowing.any(axis=1).all(), "no sound right before the click"
    last = int(np.flatnonzero(loud)[-1])
    assert last < len(samples) - CARD_RATE, "still sound a second after the pause"
    return growth.written_by(begin + (last + 1) * 4) - clicked


def test_a_phone_pairs_once_and_keeps_the_token_in_a_cookie(  # type: ignore[no-untyped-def]
    env: dict[str, str], browser, tmp_path: Path
) -> None:
    """Off loopback: the address serve prints (with its QR code) pairs the browser once; the
    token leaves the address bar for an HttpOnly, SameSite=Strict cookie that later visits use."""
    port = free_port()
    box = Serve(env, "--listen", f"0.0.0.0:{port}")
    try:
        line = box.expect("phone page pairing (shown once")
        token = (tmp_path / "config" / "remote-token").read_text().strip()
        assert line.endswith(f":{port}/?token={token}")
        box.expect(f"web: phone page on http://0.0.0.0:{port}/ (paired phones only)")
        base = f"http://127.0.0.1:{port}/"
        assert http_status(base) == 401  # no cookie, no page
        browser.get(f"{base}?token={token}")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-session="steps"]'))
        assert browser.current_url == base  # the token is gone from the address
        (cookie,) = browser.get_cookies()
        assert (cookie["name"], cookie["value"]) == ("relaxplayer_token", token)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert browser.execute_script("return document.cookie") == ""  # no script can read it
        browser.get(base)  # a later visit: no token in the address, the cookie does it
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-session="steps"]'))
        assert browser.find_element(By.ID, "now-title").text == "Nothing playing"
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(20) == 0
    finally:
        box.close()


def http_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
